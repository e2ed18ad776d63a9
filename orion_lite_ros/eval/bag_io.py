"""Reading and writing rosbag2 bags with ``rosbags`` (mcap and sqlite3; no ROS runtime).

``BagSource`` opens a bag directory (``metadata.yaml`` + storage files), a directory whose
``metadata.yaml`` is missing (a recorder that died) or a single ``.mcap`` / ``.db3`` file.
Message types come from the definitions stored in the bag; types the bag does not describe come
from a ROS 2 distribution's type store (``humble``, ``jazzy``, ``kilted``; ``auto`` picks the
bag's ``ros_distro`` when it names one of them, else humble). Nothing here raises on a damaged
bag once it is open: problems are collected in ``BagSource.problems`` and reading stops or skips
where it must.
"""
from dataclasses import dataclass
from pathlib import Path
import shutil
import sqlite3
import tempfile
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    MessageDefinition,
    MessageDefinitionFormat,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.errors import ReaderError
from rosbags.rosbag2.storage_mcap import McapReader
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

TYPESTORES = {'humble': Stores.ROS2_HUMBLE, 'jazzy': Stores.ROS2_JAZZY,
              'kilted': Stores.ROS2_KILTED}
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
_MCAP_MAGIC = b'\x89MCAP0\r\n'


class BagError(RuntimeError):
    """The bag cannot be opened at all (the message says why)."""


@dataclass(frozen=True)
class Problem:
    kind: str        # missing_topic | unknown_type | wrong_type | corrupt | truncated | ...
    topic: str
    detail: str

    def to_json(self) -> dict:
        return {'kind': self.kind, 'topic': self.topic, 'detail': self.detail}


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    log_time_ns: int     # receive time recorded by the bag (play order)
    msg: object          # rosbags message object (duck-typed like the ROS message)


def stamp_ns(header_stamp) -> int:
    return int(header_stamp.sec) * 1_000_000_000 + int(header_stamp.nanosec)


def typestore_for(name: str) -> Typestore:
    if name not in TYPESTORES:
        raise ValueError(f'unknown type store {name!r}; choose from {sorted(TYPESTORES)}')
    return get_typestore(TYPESTORES[name])


class _SalvagedMcap(McapReader):
    """An mcap file cut short (no footer, maybe half a chunk): a repaired temporary copy holds
    every complete record before the cut, including those inside an uncompressed partial
    chunk; it is read by scanning (no index)."""

    def __init__(self, path: Path):
        self._tmp = tempfile.mkdtemp(prefix='orion_replay_')
        repaired = Path(self._tmp) / path.name
        repaired.write_bytes(_repair_mcap(path.read_bytes()))
        super().__init__(repaired)

    def _open(self) -> None:
        bio = self.bio
        bio.seek(9)
        bio.seek(int.from_bytes(bio.read(8), 'little'), 1)
        self.data_start = bio.tell()
        self.data_end = bio.seek(0, 2)
        self.meta_scan()
        self.connections = [x._replace(msgcount=self.statistics.channel_message_counts.get(
            x.id, 0)) for x in self.connections]

    def messages(self, connections, start=None, stop=None):
        return self.messages_scan(connections, start, stop)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def _records(data: bytes, pos: int):
    """(op, start, end) of the complete records from ``pos`` until the data ends or is cut."""
    while pos + 9 <= len(data):
        end = pos + 9 + int.from_bytes(data[pos + 1:pos + 9], 'little')
        yield data[pos], pos, min(end, len(data) + 1)
        if end > len(data):
            return
        pos = end


def _repair_mcap(data: bytes) -> bytes:
    """Header + complete top-level records + complete records of a cut, uncompressed chunk."""
    if data[:8] != _MCAP_MAGIC or data[8:9] != b'\x01':
        raise ReaderError('not an mcap file (bad magic)')
    start = 17 + int.from_bytes(data[9:17], 'little')
    out = bytearray(data[:start])
    for op, a, b in _records(data, start):
        if op in (0x0F, 0x02):                      # data end, footer
            break
        if b <= len(data):
            out += data[a:b]
        elif op == 0x06:                            # chunk cut in the middle
            out += _chunk_prefix(data[a + 9:])
    return bytes(out)


def _chunk_prefix(body: bytes) -> bytes:
    """Complete inner records of a partial chunk (uncompressed only; else nothing)."""
    clen = int.from_bytes(body[28:32], 'little')
    if len(body) < 40 + clen or body[32:32 + clen]:
        return b''
    inner = body[40 + clen:]
    out = bytearray()
    for _, a, b in _records(inner, 0):
        if b <= len(inner):
            out += inner[a:b]
    return bytes(out)


class _SalvagedSqlite:
    """A sqlite3 file cut short: patch the page count in a temporary copy's header and read
    rows in insertion order until the first damaged page."""

    def __init__(self, path: Path):
        self._tmp = tempfile.mkdtemp(prefix='orion_replay_')
        data = bytearray(path.read_bytes())
        page = int.from_bytes(data[16:18], 'big')
        page = 65536 if page == 1 else page
        pages = len(data) // max(page, 512)
        data = data[:pages * page]
        data[28:32] = pages.to_bytes(4, 'big')
        copy = Path(self._tmp) / path.name
        copy.write_bytes(bytes(data))
        # read-only and read by one thread at a time (the replay's prefetch thread reads it)
        self.db = sqlite3.connect(f'file:{copy}?mode=ro', uri=True, check_same_thread=False)
        self.connections = self._connections()

    def _connections(self) -> List[Connection]:
        defs = {}
        try:
            for typ, enc, text in self.db.execute(
                    'SELECT topic_type, encoding, encoded_message_definition '
                    'FROM message_definitions'):
                fmt = MessageDefinitionFormat.IDL if enc == 'ros2idl' else \
                    MessageDefinitionFormat.MSG
                defs[typ] = MessageDefinition(fmt, text)
        except sqlite3.DatabaseError:
            pass                        # older schema or damaged: the type store decides
        none = MessageDefinition(MessageDefinitionFormat.NONE, '')
        return [Connection(cid, name, typ, defs.get(typ, none), '', 0,
                           ConnectionExtRosbag2('cdr', []), self)
                for cid, name, typ in self.db.execute('SELECT id, name, type FROM topics')]

    def messages(self, connections, start=None, stop=None):
        cmap = {c.id: c for c in connections}
        for cid, t, raw in self.db.execute(
                'SELECT topic_id, timestamp, data FROM messages ORDER BY id'):
            if cid in cmap:
                yield cmap[cid], int(t), raw

    def count(self) -> int:
        n = 0
        try:
            for _ in self.db.execute('SELECT id FROM messages ORDER BY id'):
                n += 1
        except sqlite3.DatabaseError:
            pass
        return n

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


class BagSource:
    """Open a bag, resolve its types, iterate messages in recorded order (see module doc)."""

    def __init__(self, path, typestore: str = 'auto'):
        self.path = Path(path)
        self.typestore_name = typestore
        self.problems: List[Problem] = []
        self.storage = ''
        self.ros_distro: Optional[str] = None
        self._readers: list = []
        self._types: Optional[Typestore] = None
        self.connections: List[Connection] = []
        self.undecodable: Dict[str, str] = {}     # msgtype -> why
        self._base: Optional[Typestore] = None     # the distribution's type store
        self._fallback: set = set()                # types whose bag definition is broken

    # -- opening ---------------------------------------------------------------------------
    def open(self) -> 'BagSource':
        if not self.path.exists():
            raise BagError(f'{self.path}: no such bag (file or directory)')
        for file_or_dir in self._storage_paths():
            self._readers.extend(self._checked(file_or_dir, self._open_one(file_or_dir)))
        self.connections = self._normalised([c for r in self._readers for c in r.connections])
        self._types = self._build_typestore()
        return self

    def __enter__(self) -> 'BagSource':
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for reader in self._readers:
            try:
                reader.close()
            except Exception:   # noqa: BLE001 - a damaged storage may fail to close
                pass
        self._readers = []

    def _storage_paths(self) -> List[Path]:
        p = self.path
        if p.is_file() or (p / 'metadata.yaml').exists():
            return [p]
        files = sorted(p.glob('*.mcap')) + sorted(p.glob('*.db3'))
        if not files:
            raise BagError(f'{p}: neither metadata.yaml nor .mcap/.db3 files: not a rosbag2 bag')
        self.problems.append(Problem('no_metadata', '', f'{p} has no metadata.yaml; reading '
                                     f'{len(files)} storage file(s) directly'))
        return files

    def _open_one(self, path: Path):
        try:
            reader = Reader(path)
            reader.open()
            self.storage = self.storage or _storage_name(path, reader)
            self.ros_distro = self.ros_distro or reader.ros_distro
            return reader
        except (ReaderError, sqlite3.DatabaseError, OSError, KeyError, ValueError) as err:
            salvaged = self._salvage(path, err)
            if salvaged is None:
                raise BagError(f'{path}: cannot open bag: {err}') from err
            return salvaged

    def _normalised(self, connections: List[Connection]) -> List[Connection]:
        """Connections with ROS 2 type names (early bags say ``sensor_msgs/Image``)."""
        legacy = sorted({c.msgtype for c in connections if normalise_msgtype(c.msgtype)
                         != c.msgtype})
        if legacy:
            self.problems.append(Problem('legacy_type_names', '', f'type names without /msg/ '
                                         f'({", ".join(legacy[:3])}...) read as '
                                         f'{normalise_msgtype(legacy[0])} etc.'))
        return [c._replace(msgtype=normalise_msgtype(c.msgtype)) for c in connections]

    def _checked(self, path: Path, reader) -> list:
        """A directory whose metadata.yaml describes topics unlike its storage files (QoS
        strings or type hashes: rosbag2's own test bags) reads 0 messages of them through
        rosbags; read the storage files directly instead, or say why not."""
        unmatched = _unmatched_topics(reader)
        if not unmatched:
            return [reader]
        names = ', '.join(unmatched[:3]) + (f' and {len(unmatched) - 3} more'
                                            if len(unmatched) > 3 else '')
        why = (f'metadata.yaml describes {len(unmatched)} topic(s) ({names}) unlike the '
               'storage file(s) (offered QoS profiles or type hash differ), so they read 0 '
               'messages through it')
        if reader.compression_mode:
            self.problems.append(Problem('metadata_mismatch', '', f'{why}; the bag is '
                                         f'{reader.compression_mode}-compressed, so its storage '
                                         'files cannot be read directly: not read'))
            return [reader]
        files = [Path(path, f) for f in _relative_paths(path)] or sorted(
            path.glob('*.mcap')) + sorted(path.glob('*.db3'))
        try:
            direct = [Reader(f) for f in files]
            for r in direct:
                r.open()
        except Exception as err:   # noqa: BLE001 - keep the directory reader, say why
            self.problems.append(Problem('metadata_mismatch', '', f'{why}; opening the storage '
                                         f'files directly failed too ({err})'))
            return [reader]
        reader.close()
        self.problems.append(Problem('metadata_mismatch', '', f'{why}; reading '
                                     f'{[f.name for f in files]} directly instead'))
        return direct

    def _salvage(self, path: Path, err: Exception):
        files = [path] if path.is_file() else sorted(path.glob('*.mcap')) + sorted(
            path.glob('*.db3'))
        if not files:
            return None
        try:
            if files[0].suffix == '.mcap':
                reader = _SalvagedMcap(files[0])
                reader.open()
                count, self.storage = reader.statistics.message_count, 'mcap'
            else:
                reader = _SalvagedSqlite(files[0])
                count, self.storage = reader.count(), 'sqlite3'
        except Exception:   # noqa: BLE001 - report the original error instead
            return None
        self.problems.append(Problem('truncated', '', f'{files[0].name}: {err}; reading the '
                                     f'{count} messages before the damage'))
        return reader

    def _build_typestore(self) -> Typestore:
        name = self.typestore_name
        if name == 'auto':
            name = self.ros_distro if self.ros_distro in TYPESTORES else 'humble'
        base = typestore_for(name)
        self._base = base
        self.typestore_name = name
        typs = dict(base.fielddefs)
        for conn in self.connections:
            try:
                typs.update(_bag_types(conn))
            except Exception as err:   # noqa: BLE001 - any parse failure -> base store
                self.problems.append(Problem('bad_definition', conn.topic,
                                             f'{conn.msgtype}: stored definition unreadable '
                                             f'({err}); using the {name} type store'))
        store = get_typestore(Stores.EMPTY)
        store.register(typs)
        for conn in self.connections:
            if conn.msgtype not in store.fielddefs:
                self.undecodable[conn.msgtype] = (
                    f'type {conn.msgtype} is neither described in the bag nor in the {name} '
                    'type store')
        return store

    # -- reading ---------------------------------------------------------------------------
    @property
    def topics(self) -> Dict[str, tuple]:
        """topic -> (msgtype, message count)."""
        out: Dict[str, tuple] = {}
        for c in self.connections:
            _, count = out.get(c.topic, (c.msgtype, 0))
            out[c.topic] = (c.msgtype, count + c.msgcount)
        return out

    def messages(self, topics: Iterable[str]) -> Iterator[BagMessage]:
        """Messages of ``topics`` in recorded order; undecodable ones are skipped and counted."""
        wanted = set(topics)
        for reader in self._readers:
            conns = [c for c in reader.connections if c.topic in wanted
                     and normalise_msgtype(c.msgtype) not in self.undecodable]
            if conns:
                yield from self._read(reader, conns)

    def raw_messages(self) -> Iterator[tuple]:
        """(connection, log_time_ns, raw bytes) of every readable message, recorded order."""
        for reader in self._readers:
            it = reader.messages(connections=reader.connections)
            try:
                yield from it
            except Exception:   # noqa: BLE001 - damage already reported by the replay pass
                continue

    @property
    def types(self) -> Typestore:
        return self._types

    def _deserialize(self, raw: bytes, msgtype: str, topic: str):
        """With the bag's own definitions; when they do not decode a message that the type
        store's definition does, that type comes from the type store from then on."""
        if msgtype in self._fallback:
            return self._base.deserialize_cdr(raw, msgtype)
        try:
            return self._types.deserialize_cdr(raw, msgtype)
        except Exception:   # noqa: BLE001 - try the distribution's definition
            if msgtype not in self._base.fielddefs:
                raise
        msg = self._base.deserialize_cdr(raw, msgtype)
        self._fallback.add(msgtype)
        self.problems.append(Problem('bad_definition', topic, f'{msgtype}: the definition '
                                     'stored in the bag does not decode its messages; using '
                                     f"the {self.typestore_name} type store's"))
        return msg

    def _read(self, reader, conns: Sequence[Connection]) -> Iterator[BagMessage]:
        failures: Dict[str, int] = {}
        count = 0
        it = reader.messages(connections=conns)
        while True:
            try:
                conn, t, raw = next(it)
            except StopIteration:
                break
            except Exception as err:   # noqa: BLE001 - storage damage mid-read
                self.problems.append(Problem('corrupt', '', f'read stopped after {count} '
                                             f'messages: {type(err).__name__}: {err}'))
                break
            count += 1
            msgtype = normalise_msgtype(conn.msgtype)
            try:
                msg = self._deserialize(raw, msgtype, conn.topic)
            except Exception:   # noqa: BLE001 - one bad message must not stop the replay
                failures[conn.topic] = failures.get(conn.topic, 0) + 1
                continue
            yield BagMessage(conn.topic, msgtype, t, msg)
        for topic, n in failures.items():
            self.problems.append(Problem('corrupt', topic, f'{n} message(s) failed to '
                                         'deserialise and were skipped'))


def normalise_msgtype(msgtype: str) -> str:
    """``pkg/Type`` (ROS 2 Crystal/Dashing bags, ROS 1 style) -> ``pkg/msg/Type``."""
    parts = msgtype.split('/')
    return f'{parts[0]}/msg/{parts[1]}' if len(parts) == 2 and all(parts) else msgtype


def _unmatched_topics(reader) -> List[str]:
    """Topics of a directory bag's metadata.yaml that no storage connection matches the way
    rosbags matches them (topic, type, serialization and QoS, type hash when both have one)
    although the storage holds the topic with that type."""
    storages = getattr(getattr(reader, 'storage', None), 'storages', None)
    if not storages:
        return []
    out = []
    for conn in reader.connections:
        same = [x for st in storages for x in st.connections
                if x.topic == conn.topic and x.msgtype == conn.msgtype]
        if same and not any(x.ext == conn.ext and (not x.digest or not conn.digest
                                                   or x.digest == conn.digest) for x in same):
            out.append(conn.topic)
    return sorted(set(out))


def _relative_paths(path: Path) -> List[str]:
    try:
        import yaml
        meta = yaml.safe_load((path / 'metadata.yaml').read_text())
        return list(meta['rosbag2_bagfile_information']['relative_file_paths'])
    except Exception:   # noqa: BLE001 - fall back to globbing the directory
        return []


def _storage_name(path: Path, reader) -> str:
    if path.suffix in ('.mcap', '.db3'):
        return 'mcap' if path.suffix == '.mcap' else 'sqlite3'
    files = list(path.glob('*.mcap'))
    return 'mcap' if files else 'sqlite3'


def _bag_types(conn: Connection) -> dict:
    fmt, data = conn.msgdef.format, conn.msgdef.data
    if fmt == MessageDefinitionFormat.NONE or not data.strip():
        return {}
    if fmt == MessageDefinitionFormat.MSG:
        return get_types_from_msg(data, conn.msgtype)
    sep = '=' * 80 + '\n'
    if data.startswith(f'{sep}IDL: '):
        out = {}
        for block in data.split(sep)[1:]:
            out.update(get_types_from_idl(block.split('\n', 1)[1]))
        return out
    return get_types_from_idl(data)


class BagSink:
    """Write messages (rosbags objects) to a new bag; one connection per topic.

    ``embed_definitions=False`` stores no message definitions, like Humble's sqlite3 bags.
    """

    def __init__(self, path, storage: str = 'mcap', typestore: str = 'humble',
                 embed_definitions: bool = True):
        self.path = Path(path)
        self.distro = typestore if isinstance(typestore, str) else ''
        if storage not in STORAGES:
            raise ValueError(f'unknown storage {storage!r}; choose from {sorted(STORAGES)}')
        self.store = typestore_for(typestore) if isinstance(typestore, str) else typestore
        self.embed = embed_definitions
        self.writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        self.connections: Dict[str, Connection] = {}

    def __enter__(self) -> 'BagSink':
        self.writer.open()
        return self

    def __exit__(self, *exc) -> None:
        self.writer.close()
        meta = self.path / 'metadata.yaml'
        if self.distro and meta.exists():     # rosbags writes 'rosbags'; name the distro
            text = meta.read_text().replace('ros_distro: rosbags', f'ros_distro: {self.distro}')
            meta.write_text(text)

    def connection(self, topic: str, msgtype: str, msgdef: Optional[str] = None,
                   digest: Optional[str] = None, typestore: Optional[Typestore] = None,
                   qos=()) -> Connection:
        if topic not in self.connections:
            if not self.embed:
                kw = {'msgdef': '', 'rihs01': digest or 'RIHS01_' + '0' * 64}
            elif msgdef and digest:
                kw = {'msgdef': msgdef, 'rihs01': digest}
            else:
                kw = {'typestore': typestore or self.store}
            self.connections[topic] = self.writer.add_connection(
                topic, msgtype, offered_qos_profiles=qos, **kw)
        return self.connections[topic]

    def write(self, topic: str, msg, log_time_ns: int) -> None:
        conn = self.connection(topic, msg.__msgtype__)
        self.writer.write(conn, int(log_time_ns), self.store.serialize_cdr(msg, msg.__msgtype__))

    def write_raw(self, conn: Connection, raw: bytes, log_time_ns: int) -> None:
        self.writer.write(conn, int(log_time_ns), raw)
