"""Fuzzing the loaders: hostile bytes in, a Document or a clear LoadError out, nothing else.

Every input goes through `load_file`, as `rag ingest` calls it. A LoadError must be one line,
name the file, give a reason and a fix, and must not be the catch-all "report this as a bug"
message (that one means a parser failed in a way the loader did not foresee). A Document must
be self-consistent. Any other exception fails the test.

Bounded in time: `max_examples` per test is sized so the file runs in about a minute and a half
on two cores. Raise FUZZ_EXAMPLES (a multiplier) for a longer hunt.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.errors import LoadError
from rag.ingest.load import load_file
from test_load import PROSE, make_docx, make_pdf

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parent.parent / "docs_raw"
LIMIT = 2 * 1024 * 1024  # max_bytes for every load: the size guard itself is tested in test_load.py
SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
_DIR = Path(tempfile.mkdtemp(prefix="rag-fuzz-"))


@pytest.fixture(scope="module", autouse=True)
def _remove_fuzz_dir():
    yield
    shutil.rmtree(_DIR, ignore_errors=True)


def fuzz(n: int):
    """Hypothesis settings: n examples (times FUZZ_EXAMPLES), no deadline, no example database."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


def check(ext: str, data: bytes) -> None:
    """Load `data` as a file with extension `ext`; only a sound Document or a clear LoadError pass."""
    path = _DIR / f"fuzz-{hashlib.sha256(data).hexdigest()[:16]}{ext}"
    path.write_bytes(data)
    try:
        doc = load_file(path, max_bytes=LIMIT)
    except LoadError as e:
        msg = str(e)
        assert "\n" not in msg and msg.startswith(f"{path}: "), msg
        assert e.reason.strip() and e.fix.strip(), msg
        assert "report this as a bug" not in msg, msg  # the catch-all: an unforeseen parser failure
        return
    finally:
        path.unlink(missing_ok=True)
    assert doc.id == hashlib.sha256(data).hexdigest()
    assert doc.source == str(path) and doc.text.strip() and doc.paragraphs
    for p in doc.paragraphs:
        assert 0 <= p.start < p.end <= len(doc.text), p
        assert doc.text[p.start:p.end].strip()


# --- seeds: small valid files of every format --------------------------------------------------

HTML_SEED = (f"<!DOCTYPE html><html><head><title>Assembly | News</title><style>p {{color: red}}</style></head>"
             f"<body><nav><a href='/'>Home</a></nav><main><article><h1>Assembly Adopts Declaration</h1>"
             f"<p>{PROSE}</p><h2>Reactions &amp; Next Steps</h2><table><tr><td>Region</td><td>Cases</td></tr>"
             f"</table><p>Delegates welcomed the text &ndash; <b>implementation</b> must now follow.</p>"
             f"</article></main><footer>Copyright</footer></body></html>").encode()
SEEDS = {
    ".txt": (DOCS / "GA-12734-political-declaration.txt").read_bytes()[:6000],
    ".md": f"# Trafficking Report\r\n\r\n{PROSE}\r\n\r\n## Next Steps\r\n\r\n- one\n- two\n\n{PROSE}\n".encode(),
    ".html": HTML_SEED,
    ".pdf": make_pdf([["Annual Report on Trafficking", PROSE[:80], PROSE[80:]], ["Victims were identified."]]),
    ".docx": make_docx(),
}
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1",
             "shift_jis", "koi8-r"]


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """`seed` after a few byte flips, truncations, insertions, deletions and duplications."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate", "overwrite"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 256))]
        elif op == "duplicate":
            data[i:i] = data[i:i + draw(st.integers(1, 512))] * draw(st.integers(1, 8))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=32))
            data[i:i + len(chunk)] = chunk
    return bytes(data)


# --- every format: random bytes and mutated valid files ----------------------------------------

@pytest.mark.parametrize("ext", [".txt", ".md", ".html", ".pdf", ".docx"])
@fuzz(400)
@given(data=st.binary(max_size=4096))
def test_random_bytes(ext, data):
    check(ext, data)


@pytest.mark.parametrize("ext", [".txt", ".md", ".html", ".pdf", ".docx"])
@fuzz(800)
@given(data=st.data())
def test_mutated_valid_files(ext, data):
    check(ext, data.draw(mutated(SEEDS[ext])))


def test_seeds_are_valid():
    """The mutations start from files that load: otherwise the fuzzing above proves little."""
    for ext, seed in SEEDS.items():
        path = _DIR / f"seed{ext}"
        path.write_bytes(seed)
        assert load_file(path, max_bytes=LIMIT).paragraphs, ext


# --- text: random unicode in many encodings ----------------------------------------------------

@pytest.mark.parametrize("ext", [".txt", ".md", ".html"])
@fuzz(600)
@given(text=st.text(max_size=2000), encoding=st.sampled_from(ENCODINGS), bom=st.booleans())
def test_unicode_text_in_any_encoding(ext, text, encoding, bom):
    data = text.encode(encoding, errors="replace")
    if bom and encoding in ("utf-8", "cp1252"):
        data = b"\xef\xbb\xbf" + data
    check(ext, data)


# --- HTML: deep nesting, unclosed and unknown tags, odd markup ---------------------------------

_TAGS = ["div", "p", "span", "b", "td", "tr", "table", "li", "ul", "h1", "h3", "br", "article", "main",
         "header", "footer", "nav", "script", "style", "title", "head", "body", "html", "pre", "svg",
         "template", "x-widget", "!--", "![CDATA[", "?xml"]
_PIECES = st.one_of(
    st.sampled_from(_TAGS).map(lambda t: f"<{t}>"),
    st.sampled_from(_TAGS).map(lambda t: f"</{t}>"),
    st.sampled_from(["&amp;", "&#0;", "&#x110000;", "&#99999999;", "&nosuch;", "&", "<", ">", "-->",
                     "]]>", "<!DOCTYPE html>", "<meta charset='utf-16'>", "<meta charset='bogus'>",
                     "\x00", "\ufeff", "\r\n", "<a href='\x01'>", "<p class=\"unterminated>", PROSE]),
    st.text(max_size=40),
)


@fuzz(500)
@given(pieces=st.lists(_PIECES, max_size=200), depth=st.integers(0, 5000), tag=st.sampled_from(_TAGS[:12]))
def test_html_structure(pieces, depth, tag):
    body = "".join(pieces)
    check(".html", (f"<{tag}>" * depth + body + f"</{tag}>" * (depth // 2)).encode("utf-8", "replace"))


# --- DOCX: zip containers with odd members ------------------------------------------------------

_SEED_ZIP = zipfile.ZipFile(io.BytesIO(SEEDS[".docx"]))
_SEED_MEMBERS = {i.filename: _SEED_ZIP.read(i) for i in _SEED_ZIP.infolist()}
_NAMES = st.one_of(st.sampled_from(sorted(_SEED_MEMBERS) + ["../../evil.xml", "/abs.xml", "word/", "",
                                                          "word/document.xml\x00x", "a" * 300]),
                   st.text(min_size=1, max_size=30))


@st.composite
def docx_containers(draw) -> bytes:
    """The seed DOCX with members dropped, replaced, mutated, duplicated or added."""
    members = dict(_SEED_MEMBERS)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["drop", "mutate", "random", "add", "empty"]))
        name = draw(st.sampled_from(sorted(members))) if members else "word/document.xml"
        if op == "drop":
            members.pop(name, None)
        elif op == "mutate":
            members[name] = draw(mutated(members.get(name, b"<x/>")))
        elif op == "random":
            members[name] = draw(st.binary(max_size=512))
        elif op == "add":
            members[draw(_NAMES)] = draw(st.binary(max_size=256))
        else:
            members[name] = b""
    buf = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buf, "w", method) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": wanted here
        for name, content in members.items():
            try:
                z.writestr(name, content)
            except (ValueError, OSError, IndexError):  # a name zipfile itself refuses to write ("")
                continue
        if draw(st.booleans()) and members:  # a duplicate member name
            try:
                z.writestr(next(iter(members)), draw(st.binary(max_size=64)))
            except (ValueError, OSError, IndexError):
                pass
    return buf.getvalue()


@fuzz(900)
@given(data=docx_containers())
def test_docx_odd_zip_members(data):
    check(".docx", data)


# --- PDF: a valid skeleton with hostile objects --------------------------------------------------

_PDF_TOKENS = st.sampled_from([b"<<", b">>", b"[", b"]", b"/Type", b"/Page", b"/Pages", b"/Kids", b"/Count",
                               b"/Length", b"/Filter", b"/FlateDecode", b"/ObjStm", b"/N", b"/First",
                               b"stream\n", b"\nendstream", b"1 0 R", b"2 0 R", b"5 0 R", b"99 0 R", b"-1",
                               b"999999999999", b"0.5", b"(text)", b"<48656c6c6f>", b"null", b"true", b"%",
                               b"BT", b"ET", b"Tj", b"Tf", b"/F1", b"Do", b"q", b"Q", b"cm", b" ", b"\n"])


@fuzz(900)
@given(index=st.integers(0, 4), tokens=st.lists(_PDF_TOKENS, max_size=80))
def test_pdf_hostile_objects(index, tokens):
    """The hand-written PDF with one object (catalog, pages, font, page or content) replaced."""
    seed = make_pdf([[PROSE]])
    start = seed.index(f"{index + 1} 0 obj\n".encode()) + len(f"{index + 1} 0 obj\n")
    end = seed.index(b"\nendobj", start)
    body = b" ".join(tokens)
    check(".pdf", seed[:start] + body + seed[end:])  # offsets in the xref now point astray: also fine
