"""The credential values syncd knows, in every encoding, indexed for a linear-time scan.

The first layer of :mod:`syncd.redaction`: :func:`encodings` says in which
forms a value can reach a log line, and :class:`Registry` keeps the forms of
every registered value (pinned, in a slot, or aging in a bounded LRU) and
masks them in a text. The shape patterns and the public functions
(``register``, ``scrub``) are :mod:`syncd.redaction`'s.
"""

from __future__ import annotations

import binascii
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
#: Known forms at least this long are masked anywhere; shorter ones only as whole tokens.
#: Also the length of the index key of long forms.
MIN_LENGTH = 6
#: Aging forms kept; the least recently registered are dropped first. Rotation
#: adds new values, so this part must be bounded for a daemon that runs for
#: months. Pinned and slot forms (every target's current credentials) do not
#: count against it: what ages here is only a provider's raw answer (masked by
#: its password's slot, and by the URI pattern, anyway) and one-off values.
MAX_KNOWN = 4096
#: Generations of a slot's credential kept: the previous one may still be in flight.
SLOT_GENERATIONS = 2
#: Registrations queued before the registering thread expands them even if nothing
#: reads (see Registry): small, so a cycle's workers do it between their requests.
MAX_PENDING = 64
#: A run of base64 characters (either alphabet) worth decoding: 8 characters hold 6
#: bytes, the shortest value masked anywhere.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
_URLSAFE_TO_STD = str.maketrans("-_", "+/")

_NOTHING_TO_ESCAPE = re.compile(r"[ !#-&(-\[\]-~]*")


def _json_escape(value: str, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)[1:-1]


def _utf8(value: str) -> bytes:
    # surrogatepass: a lone surrogate (a JSON "\\ud800" escape) must not make expansion fail.
    return value.encode("utf-8", "surrogatepass")


def _repr_escapes(value: str) -> set[str]:
    """The inside of ``repr()`` of ``value`` as ``str`` and as UTF-8 ``bytes``, either quote."""
    forms = set()
    # Python quotes with ' unless the text has ' and no ": appending a " forces the
    # '-quoted form (a body dump always contains "), plain repr gives the other one.
    for text in (value, value + '"'):
        cut = -1 if text is value else -2
        forms.add(repr(text)[1:cut])
        forms.add(repr(_utf8(text))[2:cut])
    return forms


def encodings(value: str) -> set[str]:
    """Every form in which ``value`` may reach a log line as text (see the module docstring).

    Base64 is not among them: :meth:`Registry.mask` decodes base64-looking
    runs instead, which masks the value at any alignment inside any longer
    base64 data for one stored form instead of eight. A value that is not
    ASCII also gets its UTF-8 bytes read as Latin-1, the form it takes inside
    decoded bytes.
    """
    quoted = quote(value, safe="", errors="surrogatepass")
    # quote_plus differs from quote only where there is a space.
    plus = quote_plus(value, safe="", errors="surrogatepass") if " " in value else quoted
    plain = {value, quoted, plus}
    if _NOTHING_TO_ESCAPE.fullmatch(value):
        # The common case: JSON and repr() leave it (and its URL-encodings) as is.
        return plain
    once = {_json_escape(v, a) for v in plain for a in (True, False)}
    twice = {_json_escape(v, a) for v in once for a in (True, False)}
    escaped = plain | once | twice
    reprs = {form for text in escaped for form in _repr_escapes(text)}
    return escaped | reprs | {_utf8(value).decode("latin-1")}


def _forms(values: Iterable[str]) -> set[str]:
    return {form for value in values for form in encodings(value)}


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


#: Registrations waiting to be expanded: (values, pinned, slot), in order.
_Pending = tuple[tuple[str, ...], bool, str | None]


class Registry:
    """The known credential forms, indexed for a linear-time scan.

    No regular expression is built from the values: a daemon registers a new
    credential at every rotation, and recompiling an alternation of thousands
    of values each time (which ``re`` would also keep in its cache) costs time
    and memory that grow with the fleet. Instead every form is a key of one
    dict, and long forms are indexed by their first :data:`MIN_LENGTH`
    characters, which map to the few distinct lengths of forms with that
    prefix. :meth:`mask` looks up each window of the text once and then one
    slice per distinct length: O(len(text)) per scrub for any number of
    values, O(1) per registration. Short forms (a handful of lengths below
    :data:`MIN_LENGTH`) are tried only at token boundaries.

    Registration is lazy, because computing a value's encodings is most of its
    cost and most registered values are never looked for: a cycle at log level
    warning scrubs nothing per target. :meth:`add` only queues the values;
    the first reader after it (:meth:`mask`, ``len``, ``in``) expands the
    queue under the lock before it looks, so a value registered before a scan
    starts is always masked by that scan, in every encoding. The queue is
    expanded in place once it holds :data:`MAX_PENDING` registrations, so it
    stays bounded in a daemon that never logs, and a cycle's workers expand
    it while other workers wait on the network, instead of the first reader
    after the cycle (the report) doing all of it at the end. A fetched value registered
    again (a daemon fetches the same URI every cycle) is only moved to the
    recent end of the LRU, without computing its encodings again.

    A form is known while anything holds it: an aging value (the LRU of
    fetched values, bounded by the number of forms they hold), the pinned
    set, or a slot's recent generations; ``_refs`` counts the holders.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        # Readers (mask) lock only while registrations are pending; otherwise they
        # do atomic dict lookups, and the tuples below are replaced, never mutated.
        self._pending: list[_Pending] = []
        self._refs: dict[str, int] = {}
        self._long: dict[str, tuple[int, ...]] = {}
        self._short: tuple[int, ...] = ()
        self._shared: dict[tuple[str, int], int] = {}  # (key, length) -> forms, when > 1
        self._tuples: dict[tuple[int, ...], tuple[int, ...]] = {}  # one object per tuple
        self._aging: OrderedDict[str, tuple[str, ...]] = OrderedDict()  # value -> its forms
        self._aging_forms = 0
        self._pinned: set[str] = set()
        self._slots: dict[str, tuple[tuple[str, ...], ...]] = {}  # slot -> generations

    def add(self, values: Iterable[str], *, pinned: bool = False, slot: str | None = None) -> None:
        """Queue ``values`` (aging, ``pinned``, or a new generation of ``slot``) for masking."""
        entry = (tuple(values), pinned, slot)
        with self._lock:
            self._pending.append(entry)
            if len(self._pending) >= MAX_PENDING:
                self._expand_pending()

    def _expand(self) -> None:
        """Expand pending registrations before a read (see the class docstring)."""
        with self._lock:
            if self._pending:
                self._expand_pending()

    def _expand_pending(self) -> None:
        # The list is emptied only once every entry is indexed: a reader that
        # sees it empty may scan at once.
        for values, pinned, slot in self._pending:
            if slot is not None:
                self._add_generation(slot, values)
            elif pinned:
                for form in _forms(values):
                    if form not in self._pinned:
                        self._pinned.add(form)
                        self._hold(form)
            else:
                for value in values:
                    self._add_aging(value)
        self._pending = []

    def _add_aging(self, value: str) -> None:
        if value in self._aging:
            self._aging.move_to_end(value)
            return
        forms = tuple(encodings(value))
        self._aging[value] = forms
        self._aging_forms += len(forms)
        for form in forms:
            self._hold(form)
        while self._aging_forms > MAX_KNOWN:
            _, old = self._aging.popitem(last=False)
            self._aging_forms -= len(old)
            for form in old:
                self._release(form)

    def _add_generation(self, slot: str, values: tuple[str, ...]) -> None:
        # The values, not their forms, are kept, in a tuple (a deque costs half a
        # kilobyte): the forms are computed again when a generation is dropped
        # (rarely), which keeps a slot to a few strings at any number of targets.
        generations = self._slots.get(slot, ())
        if generations and generations[-1] == values:
            return
        for form in _forms(values):
            self._hold(form)
        dropped, kept = generations[:-SLOT_GENERATIONS + 1], generations[-SLOT_GENERATIONS + 1 :]
        self._slots[slot] = (*kept, values)
        for old in dropped:
            for form in _forms(old):
                self._release(form)

    def _hold(self, form: str) -> None:
        count = self._refs.get(form, 0)
        self._refs[form] = count + 1
        if count == 0:
            self._index(form, +1)

    def _release(self, form: str) -> None:
        count = self._refs.get(form, 0) - 1
        if count > 0:
            self._refs[form] = count
            return
        self._refs.pop(form, None)
        self._index(form, -1)

    def _index(self, form: str, delta: int) -> None:
        """Add (+1) or remove (-1) ``form``'s length under its prefix in the scan index.

        Most prefixes have one form of one length; how many forms share a
        prefix and a length is counted only from the second one on
        (``_shared``), so the index costs one tuple per prefix, and tuples of
        equal lengths are one object.
        """
        size = len(form)
        key = form[:MIN_LENGTH] if size >= MIN_LENGTH else ""
        lengths = self._long.get(key, ()) if key else self._short
        pair = (key, size)
        if delta > 0:
            if size in lengths:
                self._shared[pair] = self._shared.get(pair, 1) + 1
                return
            lengths = tuple(sorted((*lengths, size), reverse=True))
        else:
            shared = self._shared.get(pair, 1)
            if shared > 1:
                if shared == 2:  # noqa: PLR2004 - back to one form: no count needed
                    del self._shared[pair]
                else:
                    self._shared[pair] = shared - 1
                return
            lengths = tuple(n for n in lengths if n != size)
        lengths = self._tuples.setdefault(lengths, lengths)
        if not key:
            self._short = lengths
        elif lengths:
            self._long[key] = lengths
        else:
            del self._long[key]

    def drop_slots(self, prefix: str) -> int:
        """Forget every slot whose name starts with ``prefix``; how many there were."""
        with self._lock:
            if self._pending:
                self._expand_pending()
            names = [name for name in self._slots if name.startswith(prefix)]
            for name in names:
                for values in self._slots.pop(name):
                    for form in _forms(values):
                        self._release(form)
            return len(names)

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._reset()

    def __len__(self) -> int:
        if self._pending:
            self._expand()
        return len(self._refs)

    def __contains__(self, form: str) -> bool:
        if self._pending:
            self._expand()
        return form in self._refs

    def mask(self, text: str) -> str:
        """Replace every known form in ``text``, then every base64 run that decodes to one."""
        if self._pending:
            self._expand()
        if not self._refs:
            return text
        text = self._mask_forms(text)
        if self._long and len(text) >= 8 and _BASE64_RUN.search(text):  # noqa: PLR2004
            text = _BASE64_RUN.sub(self._mask_base64, text)
        return text

    def _mask_base64(self, run: re.Match[str]) -> str:
        """The run, or the mask if it decodes (at any of the 4 offsets) to known bytes.

        Either base64 alphabet, padded or not; a run may begin inside a base64
        text, so each offset is tried. The whole run is masked: a credential
        inside decoded data taints all of it.
        """
        text = run.group().rstrip("=").translate(_URLSAFE_TO_STD)
        for offset in range(4):
            chunk = text[offset:]
            if len(chunk) % 4 == 1:  # a lone last character holds no whole byte
                chunk = chunk[:-1]
            if len(chunk) < 8:  # noqa: PLR2004 - shorter holds no long value
                break
            chunk += "=" * (-len(chunk) % 4)  # the data may end here: decode its last bytes
            try:
                decoded = binascii.a2b_base64(chunk).decode("latin-1")
            except binascii.Error:
                continue
            index = self._long
            # Most runs are words and hex ids: no window starts a known form.
            if any(decoded[i : i + MIN_LENGTH] in index for i in range(len(decoded) - 5)) and (
                self._mask_forms(decoded, long_only=True) != decoded
            ):
                return MASK
        return run.group()

    def _mask_forms(self, text: str, *, long_only: bool = False) -> str:
        """Replace every known form; longest match first at each position."""
        known, index, short = self._refs, self._long, () if long_only else self._short
        parts: list[str] = []
        size = len(text)
        start = i = 0
        while i < size:
            found = 0
            lengths = index.get(text[i : i + MIN_LENGTH])
            if lengths:
                for n in lengths:
                    if i + n <= size and text[i : i + n] in known:
                        found = n
                        break
            if not found and short and (i == 0 or not _is_word(text[i - 1])):
                for n in short:
                    end = i + n
                    boundary = end == size or (end < size and not _is_word(text[end]))
                    if boundary and text[i:end] in known:
                        found = n
                        break
            if not found:
                i += 1
                continue
            parts += (text[start:i], MASK)
            i = start = i + found
        if not parts:
            return text
        parts.append(text[start:])
        return "".join(parts)
