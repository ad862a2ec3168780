"""Loading every format, and a clear one-line LoadError for every kind of bad input."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from rag.errors import LoadError
from rag.ingest.load import SUPPORTED, file_sha256, load_file

DOCS = Path(__file__).resolve().parent.parent / "docs_raw"
PROSE = ("The General Assembly adopted a political declaration on trafficking in persons, and "
         "delegations stressed that victims must be protected and perpetrators brought to justice.")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF written by hand: one Helvetica text object per page."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    n = len(pages)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(n))}] /Count {n} >>".encode(),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for i, lines in enumerate(pages):
        body = "BT /F1 11 Tf 14 TL 72 720 Td " + " ".join(f"({esc(ln)}) Tj T*" for ln in lines) + " ET"
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                    f"/Contents {5 + 2 * i} 0 R >>".encode())
        objs.append(f"<< /Length {len(body)} >>\nstream\n{body}\nendstream".encode())
    out, offsets = b"%PDF-1.4\n", []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    return out + f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()


def make_docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Report on Trafficking", 0)
    d.add_heading("Introduction", level=1)
    d.add_paragraph(PROSE)
    d.add_heading("Findings", level=2)
    d.add_paragraph("Victims were identified in 141 countries, and most cases involved organized "
                    "criminal groups operating across borders, the Office said in its report.")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Region", "Cases"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def load_error(path: Path, *words: str, **kw) -> LoadError:
    """Loading must raise LoadError: one line, naming the file, with a reason and a fix."""
    with pytest.raises(LoadError) as info:
        load_file(path, **kw)
    err = info.value
    msg = str(err)
    assert "\n" not in msg and msg.startswith(str(path) + ": ") and err.fix, msg
    said = msg[len(str(path)) + 2:].lower()  # not the path: it holds the test's name
    for w in words:
        assert w.lower() in said, (w, msg)
    return err


# --- happy paths ----------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(DOCS.glob("*.txt")), ids=lambda p: p.name)
def test_corpus_text_is_the_file_content(path):
    raw = path.read_bytes()
    doc = load_file(path, "docs_raw/" + path.name)
    assert doc.text == raw.decode("utf-8")  # exact: citations are offsets into the file
    assert doc.id == file_sha256(path) == hashlib.sha256(raw).hexdigest()
    assert doc.source == "docs_raw/" + path.name and doc.format == "txt"
    assert doc.paragraphs and doc.title and doc.title != path.stem
    for p in doc.paragraphs:
        assert doc.text[p.start:p.end] == doc.text[p.start:p.end].strip() != ""


def test_metadata_reaches_the_document():
    doc = load_file(DOCS / "GA-12734-political-declaration.txt")
    assert (doc.symbol, doc.body, doc.references) == ("GA/12734", "General Assembly", ("A/80/L.8",))
    assert doc.source == str(DOCS / "GA-12734-political-declaration.txt")  # default source
    assert load_file(DOCS / "hearing-summary-2025-06-30.txt").date == "2025-06-30"


def test_markdown_crlf_and_bom_keep_offsets(tmp_path):
    text = "# Trafficking Report\r\n\r\n" + PROSE + "\r\n\r\n## Next Steps\r\n\r\n" + PROSE.replace("The", "A") + "\r\n"
    doc = load_file(write(tmp_path, "r.md", b"\xef\xbb\xbf" + text.encode("utf-8")))
    assert doc.text == text  # BOM is encoding, not content; \r\n kept
    assert doc.title == "Trafficking Report" and doc.format == "md"
    assert [doc.text[p.start:p.end] for p in doc.paragraphs] == [PROSE, PROSE.replace("The", "A")]
    assert [p.section for p in doc.paragraphs] == ["Trafficking Report", "Next Steps"]


def test_cp1252_text_loads_with_correct_characters(tmp_path):
    text = "Caf\u00e9 \u201cquoted\u201d \u2013 \u20ac5 for na\u00efve readers. " + PROSE
    doc = load_file(write(tmp_path, "legacy.txt", text.encode("cp1252")))
    assert doc.text == text


def test_title_falls_back_to_file_stem(tmp_path):
    doc = load_file(write(tmp_path, "plain-notes.txt", PROSE))
    assert doc.title == "plain-notes"


def test_html(tmp_path):
    html = f"""<!DOCTYPE html><html><head><title>Site | Page</title><style>p {{color: red}}</style>
    <script>var tracker = 1;</script></head><body>
    <nav><a href="/">Home</a> <a href="/news">News</a></nav>
    <header><p>Example News Network banner</p></header>
    <main><article><header><h1>Assembly Adopts Declaration</h1></header>
    <p>{PROSE}</p><!-- a comment -->
    <h2>Reactions &amp; Next Steps</h2>
    <p>Delegates welcomed the text &ndash; several said that <b>implementation</b> must now follow,
       with funding for victim support services in every region.</p></article></main>
    <aside>Related stories</aside><form>Subscribe here</form><footer>Copyright notice</footer>
    </body></html>"""
    doc = load_file(write(tmp_path, "page.html", html))
    for gone in ("tracker", "color", "Home", "banner", "Related stories", "Subscribe", "Copyright", "comment"):
        assert gone not in doc.text, gone
    assert "## Reactions & Next Steps" in doc.text.splitlines()
    assert doc.title == "Assembly Adopts Declaration" and doc.format == "html"
    texts = [doc.text[p.start:p.end] for p in doc.paragraphs]
    assert texts[0] == PROSE and texts[1].startswith("Delegates welcomed the text – several said that implementation")
    assert [p.section for p in doc.paragraphs] == ["Assembly Adopts Declaration", "Reactions & Next Steps"]


def test_pdf(tmp_path):
    words = PROSE.split()
    page1 = ["Annual Report on Trafficking", " ".join(words[:12]), " ".join(words[12:])]
    page2 = ["Victims were identified in 141 countries across every region of the world,",
             "the Office said."]
    doc = load_file(write(tmp_path, "report.pdf", make_pdf([page1, page2])))
    assert doc.format == "pdf" and doc.title == "Annual Report on Trafficking"
    assert doc.text.startswith("Annual Report on Trafficking\n")
    texts = [" ".join(doc.text[p.start:p.end].split()) for p in doc.paragraphs]
    assert PROSE in texts
    assert "Victims were identified in 141 countries across every region of the world, the Office said." in texts


def test_docx(tmp_path):
    doc = load_file(write(tmp_path, "report.docx", make_docx()))
    assert doc.format == "docx" and doc.title == "Report on Trafficking"
    lines = doc.text.splitlines()
    assert "# Report on Trafficking" in lines and "# Introduction" in lines and "## Findings" in lines
    assert "Region | Cases" in lines
    assert doc.text[doc.paragraphs[-1].start:doc.paragraphs[-1].end] == "Region | Cases"  # not page chrome
    sections = {doc.text[p.start:p.end][:20]: p.section for p in doc.paragraphs}
    assert sections[PROSE[:20]] == "Introduction"
    assert sections["Victims were identif"] == "Introduction › Findings"  # its heading path


def test_file_sha256_streams_large_files(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    assert file_sha256(write(tmp_path, "big.bin", data)) == hashlib.sha256(data).hexdigest()


# --- bad inputs -------------------------------------------------------------------------

def test_empty_and_blank_files(tmp_path):
    load_error(write(tmp_path, "empty.txt", b""), "empty")
    load_error(write(tmp_path, "blank.md", "  \n\n\t\n"), "no text")


def test_binary_file_with_txt_extension(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000)
    load_error(write(tmp_path, "image.txt", png), "binary")
    controls = bytes(range(1, 9)) * 200 + b"some words"  # no NUL, mostly control bytes
    load_error(write(tmp_path, "noise.md", controls), "binary")
    one_nul = PROSE.encode() * 20 + b"\x00" + PROSE.encode() * 20  # text-like, but a NUL byte
    load_error(write(tmp_path, "nul.txt", one_nul), "binary")


def test_file_over_max_bytes(tmp_path):
    path = write(tmp_path, "big.txt", PROSE * 20)
    err = load_error(path, "RAG_MAX_FILE_MB", "over the 1.0 KB limit", max_bytes=1024)
    assert "3.4 KB" in str(err)  # names the file's size


def test_max_bytes_defaults_to_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_MAX_FILE_MB", "0.001")  # 1 KB
    load_error(write(tmp_path, "big.txt", PROSE * 20), "RAG_MAX_FILE_MB")


def test_unreadable_paths(tmp_path):
    load_error(tmp_path / "missing.txt", "not found")
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    load_error(folder, "directory")
    load_error(write(tmp_path, "sheet.xlsx", b"PK\x03\x04"), "unsupported")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_permission_denied(tmp_path):
    path = write(tmp_path, "secret.txt", PROSE)
    path.chmod(0)
    try:
        load_error(path, "permission")
    finally:
        path.chmod(0o644)


def test_truncated_and_corrupt_pdf(tmp_path):
    good = make_pdf([[PROSE]])
    load_error(write(tmp_path, "cut.pdf", good[: len(good) // 2]), "truncated")
    load_error(write(tmp_path, "fake.pdf", b"this is not a pdf at all " * 10), "not a PDF")
    garbage = b"%PDF-1.4\n" + os.urandom(3000) + b"\n%%EOF\n"  # header and end marker, nothing between
    load_error(write(tmp_path, "broken.pdf", garbage), "PDF is corrupt")


def test_pdf_without_text_needs_ocr(tmp_path):
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(612, 792)
    buf = io.BytesIO()
    w.write(buf)
    load_error(write(tmp_path, "scan.pdf", buf.getvalue()), "scanned", "OCR")


def test_encrypted_pdf(tmp_path):
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter()
    w.append(PdfReader(io.BytesIO(make_pdf([[PROSE]]))))
    w.encrypt(user_password="secret", algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    load_error(write(tmp_path, "locked.pdf", buf.getvalue()), "encrypted", "password")


def test_corrupt_and_truncated_docx(tmp_path):
    good = make_docx()
    load_error(write(tmp_path, "cut.docx", good[: len(good) // 2]), "not a valid .docx")
    load_error(write(tmp_path, "noise.docx", os.urandom(4096)), "not a valid .docx")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "a zip, but not a Word document")
    load_error(write(tmp_path, "other.docx", buf.getvalue()), "not a valid .docx")


def _bomb(size: int) -> bytes:
    """A real .docx plus one member of `size` zero bytes: tiny compressed, huge unpacked."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(make_docx())) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        with dst.open("word/media/pad.bin", "w") as f:
            block = bytes(1024 * 1024)
            for _ in range(size // len(block)):
                f.write(block)
    return buf.getvalue()


def test_docx_zip_bomb_relative_to_max_bytes(tmp_path):
    data = _bomb(12 * 1024 * 1024)
    assert len(data) < 200 * 1024
    load_error(write(tmp_path, "bomb.docx", data), "zip bomb", max_bytes=512 * 1024)  # cap: 10 MB


def test_docx_zip_bomb_absolute_cap(tmp_path):
    data = _bomb(201 * 1024 * 1024)
    load_error(write(tmp_path, "bomb.docx", data), "zip bomb", "200.0 MB", max_bytes=50 * 1024 * 1024)


def test_supported_formats():
    assert SUPPORTED == {".txt", ".md", ".html", ".htm", ".pdf", ".docx"}


# --- hostile inputs: guards against exhausting memory, time or the stack --------------------------

def test_html_nested_100k_levels_deep(tmp_path):
    """Walked without recursion: no RecursionError (the fuzzer's first find), and fast."""
    depth = 100_000
    html = "<html><body>" + "<div><span>" * (depth // 2) + f"<p>{PROSE}</p>" + "</span></div>" * (depth // 2)
    doc = load_file(write(tmp_path, "deep.html", html + "</body></html>"))
    assert doc.text == PROSE


def test_html_with_too_many_tags(tmp_path):
    html = "<html><body>" + "<i>x</i>" * 200_001 + "</body></html>"
    load_error(write(tmp_path, "tags.html", html), "200,0", "tags", "limit")


def _raw_pdf(content: bytes, stream_dict: bytes = b"", extra: list[bytes] = (), length: int | None = None) -> bytes:
    """One page whose content stream (object 5) is `content`; `extra` objects are numbered from 6."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents 5 0 R >>",
            b"<< /Length %d %s >>\nstream\n" % (len(content) if length is None else length, stream_dict) + content + b"\nendstream", *extra]
    out, offsets = b"%PDF-1.5\n", []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)


_TEXT = b"BT /F1 11 Tf 72 720 Td (" + PROSE.encode() + b") Tj ET"


def test_pdf_hand_built_helper_loads(tmp_path):
    assert load_file(write(tmp_path, "ok.pdf", _raw_pdf(_TEXT))).text == PROSE


def test_pdf_decompression_bomb(tmp_path):
    import zlib

    z = zlib.compressobj(9)
    bomb = b"".join(z.compress(bytes(1024 * 1024)) for _ in range(128)) + z.flush()  # 128 MB of zeros
    assert len(bomb) < 200 * 1024
    load_error(write(tmp_path, "bomb.pdf", _raw_pdf(bomb, b"/Filter /FlateDecode")), "decompression bomb")


def test_pdf_huge_declared_stream_length(tmp_path):
    load_error(write(tmp_path, "length.pdf", _raw_pdf(_TEXT, length=99999999999999)), "safety limit")


def test_pdf_garbage_object_stream_is_ignored(tmp_path):
    """An unused object stream of noise claiming 10^8 objects: the page's text still loads, quickly."""
    junk = b"<< /Type /ObjStm /N 100000000 /First 5 /Length 3000 >>\nstream\n" + os.urandom(3000) + b"\nendstream"
    assert load_file(write(tmp_path, "objstm.pdf", _raw_pdf(_TEXT, extra=[junk]))).text == PROSE


def test_pdf_nested_100k_arrays(tmp_path):
    nested = b"[" * 100_000 + b"]" * 100_000
    load_error(write(tmp_path, "nested.pdf", _raw_pdf(nested + b"\n" + _TEXT)), "too deeply")
    unused = b"<< /Junk " + nested + b" >>"  # an object nothing refers to is never parsed
    assert load_file(write(tmp_path, "unused.pdf", _raw_pdf(_TEXT, extra=[unused]))).text == PROSE


def test_docx_zip_bomb_that_lies_about_its_size(tmp_path):
    """Member headers claiming 1 KB for 64 MB of zeros: unpacking stops at 1 KB and the CRC fails."""
    data = bytearray(_bomb(64 * 1024 * 1024))
    real = (64 * 1024 * 1024).to_bytes(4, "little")
    assert data.count(real) == 2  # the local header and the central directory entry
    data = bytes(data).replace(real, (1024).to_bytes(4, "little"))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sum(i.file_size for i in z.infolist()) < 1024 * 1024  # the size guard sees nothing wrong
    load_error(write(tmp_path, "liar.docx", data), "not a valid .docx")


def with_outline(pdf: bytes, entries: list[tuple[str, int, int]]) -> bytes:
    """The PDF with an outline (bookmarks): (title, page index, depth) in order."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    parents: list = []
    for title, page, depth in entries:
        parents = parents[:depth]
        parents.append(writer.add_outline_item(title, page, parent=parents[-1] if parents else None))
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_html_definition_terms_and_table_headers_name_their_content(tmp_path):
    """A reference page names what a paragraph describes in a definition term or a table header;
    the paragraph's section carries it, so "The default is 0." still says what it is the default of."""
    html = f"""<html><head><title>Settings</title></head><body>
    <div role="navigation"><h3>Navigation</h3><ul><li><a href="/">index</a></li></ul></div>
    <h1>Server settings¶</h1><p>{PROSE}</p>
    <h2>Timeouts</h2>
    <dl><dt id="t"><span>request_</span><span>timeout</span> (integer)<a class="headerlink">¶</a></dt>
    <dd><p>Seconds before a request is abandoned. The default is 0.</p>
        <dl><dt>Changed in version 2</dt><dd><p>Zero now means no limit at all.</p></dd></dl></dd>
    <dt>idle_timeout (integer)</dt><dd><p>Seconds a connection may stay idle. The default is 30.</p></dd></dl>
    <h2>Retries</h2>
    <table><tr><th>Option</th><th>Default</th></tr><tr><td>retries</td><td>3</td></tr>
    <tr><td>backoff</td><td>2.5</td></tr></table>
    <pre># a comment in an example, not a heading
    retries = 3</pre>
    <p>{PROSE}</p></body></html>"""
    doc = load_file(write(tmp_path, "settings.html", html))
    assert doc.title == "Server settings" and "Navigation" not in doc.text  # role=navigation is furniture
    section = {doc.text[p.start:p.end].split(".")[0]: p.section for p in doc.paragraphs}
    assert section["Seconds before a request is abandoned"] == "Timeouts › request_timeout (integer)"
    assert section["Zero now means no limit at all"] == "Timeouts › request_timeout (integer) › Changed in version 2"
    assert section["Seconds a connection may stay idle"] == "Timeouts › idle_timeout (integer)"
    rows = [doc.text[p.start:p.end] for p in doc.paragraphs]
    assert "Option: retries; Default: 3" in rows and "Option: backoff; Default: 2.5" in rows
    assert "# a comment in an example, not a heading" in doc.text  # kept as content
    assert not any(s and "comment" in s for s in section.values())


def test_pdf_outline_titles_are_sections_and_running_headers_go(tmp_path):
    words = PROSE.split()
    pages = [["Contents", "Timeouts . . . . . . . . . . . . 2", "Retries . . . . . . . . . . . . 3"]]
    for n, (title, body) in enumerate([("Timeouts", "Seconds before a request is abandoned. The default is 0."),
                                       ("Retries", "How often a request is sent again. The default is 3.")], start=2):
        pages.append([f"{n} Manual 5.4", title, " ".join(words[:12]), " ".join(words[12:]), body,
                      "# example: retries 3", f"Manual 5.4 page {n}"])
    pages.append(["4 Manual 5.4", "Index", PROSE, "Manual 5.4 page 4"])
    doc = load_file(write(tmp_path, "manual.pdf", with_outline(make_pdf(pages), [
        ("Settings", 1, 0), ("Timeouts", 1, 1), ("Retries", 2, 1)])))
    assert "Manual 5.4" not in doc.text  # the running header and footer, on every page
    assert ". . . . ." not in doc.text  # table of contents entries
    def section(words: str) -> str | None:
        return next(p.section for p in doc.paragraphs if words in doc.text[p.start:p.end])

    assert section("Seconds before a request is abandoned") == "Timeouts"
    assert section("How often a request is sent again") == "Retries"
    assert "# example: retries 3" in doc.text and not any(  # a content line opening with '#' is no heading
        "example" in (p.section or "") for p in doc.paragraphs)
