"""The framing of W&B's offline transaction log (`run-*.wandb`): header, blocks, chunks.

wandb 0.31 writes the file from its Go core (`core/internal/stream/store.go` with
`core/pkg/leveldb/record.go`); the layout below was checked against files it writes:

- a 7-byte header: `:W&B`, uint16 LE 0xBEE1, uint8 version 0. The writer puts it in its
  first block buffer, so the 32 KiB blocks start at file offsets that are multiples of 32768.
- LevelDB-log chunks that never straddle a block: uint32 LE CRC-32 (plain IEEE, unmasked)
  of the type byte and the payload, uint16 LE length, uint8 type (1 FULL, 2 FIRST,
  3 MIDDLE, 4 LAST), then the payload. A record too long for the rest of its block is split
  FIRST, MIDDLE…, LAST; a block tail under 7 bytes is zeros.
- each record is a serialized `wandb_internal_pb2.Record`, its fields in number order:
  `num` (a varint) first, then the one field that says what the record is.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import BinaryIO

FILE_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32 * 1024
CHUNK_HEADER = struct.Struct("<IHB")  # crc32, length, type
HEAD = CHUNK_HEADER.size
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
READ_SIZE = 64 * BLOCK  # reads end on block boundaries, so only the last one can be torn
MAX_RECORD = 64 << 20  # a fragmented record longer than this is damage, not data
CORRUPT = "damaged record (checksum mismatch)"

NUM_TAG = 1 << 3 | 0  # Record.num, a varint
# Records never needed, known by their type field's tag: summary, output, config, files,
# artifact, tbrecord, alert, telemetry, metric, output_raw. The SDK writes two summary
# records per history row: skipping them unparsed and unchecked saves a third of the time.
SKIPPED_TAGS = frozenset(field << 3 | 2 for field in (3, 4, 5, 6, 8, 9, 10, 11, 12, 13))

Found = tuple[bytes, int, int]  # a record: payload, file offset, type tag
DamageHandler = Callable[[int, str], None]  # (file offset, reason)


class ChunkWalk:
    """Turns the bytes of a log, fed in reads from a record boundary, into whole records.

    After each `feed`, `records` holds the complete records found (but those of the
    `SKIPPED_TAGS` types), and `committed` the file offset after the last record decided on
    (found, or counted as damaged): a later walk resumes there, so nothing is used or
    counted twice. Damage is reported once per damaged stretch to `on_damage`.
    """

    def __init__(self, start: int, on_damage: DamageHandler) -> None:
        self.pos = start  # file offset of the next byte to feed
        self.committed = start
        self.records: list[Found] = []
        self.on_damage = on_damage
        self.parts: list[bytes] = []  # payloads of a FIRST, MIDDLE… record so far
        self.record_start = start
        self.lost = False  # inside damage already counted: its fragments are not counted again

    def feed(self, data: bytes, final: bool) -> None:
        """Walk the chunks of `data`, the file from `self.pos` on; `final`: nothing follows.

        Reads end on block boundaries and chunks never cross one, so only the final data
        can end inside a chunk: that chunk is torn (still being written) and left alone.
        """
        view, base, size, i = memoryview(data), self.pos, len(data), 0
        block_end = BLOCK - base % BLOCK  # where the block of data[i] ends, in data
        unpack, crc32, skipped, found = CHUNK_HEADER.unpack_from, zlib.crc32, SKIPPED_TAGS, self.records
        committed, pending = self.committed, bool(self.parts)
        while i <= size - HEAD:  # as lean as can be: this runs for every record of the file
            if block_end - i < HEAD:  # zero padding up to the block's end
                i, block_end = block_end, block_end + BLOCK
                continue
            checksum, length, kind = unpack(data, i)
            end = i + HEAD + length
            if kind == FULL and end <= block_end and end <= size and not pending:  # the usual chunk
                tag = i + HEAD  # type_tag(data, i + HEAD, end), inlined
                if length and data[tag] == NUM_TAG:
                    tag += 1
                    while tag < end and data[tag] & 0x80:
                        tag += 1
                    tag += 1
                tag = data[tag] if tag < end else -1
                if tag in skipped:  # never used, so not checksummed: whatever it holds is not read
                    committed, i = base + end, end
                    continue
                if crc32(view[i + 6 : end]) == checksum:
                    self.lost = False
                    found.append((data[i + HEAD : end], base + i, tag))
                    committed, i = base + end, end
                    continue
            self.committed = committed
            i = self._odd_chunk(view, base, i, final)
            committed, pending = self.committed, bool(self.parts)
            if i < 0:
                break
            block_end = i - (base + i) % BLOCK + BLOCK
        self.committed, self.pos = committed, base + size

    def _odd_chunk(self, view: memoryview, base: int, i: int, final: bool) -> int:
        """Handle the chunk at view[i]: fragment, padding, damage; where to go on (-1: stop)."""
        size = len(view)
        room = BLOCK - (base + i) % BLOCK
        checksum, length, kind = CHUNK_HEADER.unpack_from(view, i)
        end: int = i + HEAD + length
        fits = length <= room - HEAD
        if fits and end <= size and zlib.crc32(view[i + 6 : end]) == checksum:
            self._chunk(kind, view[i + HEAD : end], base + i, base + end)
            return end
        if checksum == length == kind == 0:  # zeros: padding, or not written yet
            return i + room
        if fits and end > size:
            return -1  # torn
        # A first bad chunk is skipped alone; after that, or when its length runs past
        # the block, lengths cannot be trusted: resynchronise at the next block.
        go = end if fits and not self.lost else i + room
        if go >= size and final:
            return -1  # the damage may be a write in progress: decide once more is written
        self._damage(base + i, base + go, CORRUPT)
        return go

    def _chunk(self, kind: int, payload: memoryview, at: int, end: int) -> None:
        if kind in (FULL, FIRST):
            if self.parts:  # never written by the SDK: a record whose LAST went missing
                self.on_damage(self.record_start, "record cut short (no last fragment)")
            self.parts, self.lost, self.record_start = [bytes(payload)], False, at
        elif kind in (MIDDLE, LAST) and self.parts:
            self.parts.append(bytes(payload))
        else:  # a fragment without its start, or a chunk type we do not know
            self._damage(at, end, "unknown chunk type" if kind > LAST else "orphan record fragment")
            return
        if kind in (FULL, LAST):
            record, self.parts = b"".join(self.parts), []
            tag = type_tag(record, 0, len(record))
            if tag not in SKIPPED_TAGS:
                self.records.append((record, self.record_start, tag))
            self.committed = end
        elif sum(map(len, self.parts)) > MAX_RECORD:
            self._damage(self.record_start, end, f"record longer than {MAX_RECORD >> 20} MiB")

    def _damage(self, at: int, go: int, reason: str) -> None:
        """Count damage once, drop the record it cut, and commit past it."""
        if not self.lost:
            self.on_damage(at, reason)
        self.parts, self.lost, self.committed = [], True, go


def type_tag(data: bytes | memoryview, start: int, end: int) -> int:
    """The tag of the type field of the Record in data[start:end]: the first after `num`."""
    i = start
    if i < end and data[i] == NUM_TAG:  # skip num's varint
        i += 1
        while i < end and data[i] & 0x80:
            i += 1
        i += 1
    return data[i] if i < end else -1


def header_state(stream: BinaryIO) -> bool | None:
    """True for a good file header, None while it is still being written, False if bad."""
    stream.seek(0)
    head = read_up_to(stream, len(FILE_HEADER))
    if head == FILE_HEADER:
        return True
    return None if len(head) < len(FILE_HEADER) and FILE_HEADER.startswith(head) else False


def read_up_to(stream: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes, fewer only at the end of the stream (reads may come short)."""
    data = stream.read(size)
    while 0 < len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            break
        data += more
    return data
