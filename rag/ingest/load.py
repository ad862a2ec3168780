"""Turn one file into a Document: extract its text, find its paragraphs and metadata.

Every bad input (missing, unreadable, empty, too large, binary, corrupt, encrypted, a zip
bomb, a scanned PDF) raises `LoadError` with one line naming the file, the reason and the
fix, so `rag ingest` can report it and carry on with the other files.

For .txt and .md the document text is the decoded file content, untouched: citations quote
character offsets into it. HTML, PDF and DOCX are converted to plain text with markdown-style
"#" heading lines, so the same paragraph and section rules apply to every format.
"""

from __future__ import annotations

import hashlib
import io
import re
import stat
import zipfile
from pathlib import Path

from rag.ingest.clean import analyse
from rag.errors import LoadError
from rag.types import Document

SUPPORTED = {".txt", ".md", ".html", ".htm", ".pdf", ".docx"}
_FORMAT = {".txt": "txt", ".md": "md", ".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx"}
_MB = 1024 * 1024
_UNZIP_CAP = 200 * _MB  # absolute ceiling on a DOCX's uncompressed size
_UNZIP_RATIO = 20  # ... and at most this many times the file-size limit
_HTML_TAGS = 200_000  # parsed HTML costs ~1 KB of memory per tag: a 50 MB page of bare tags would need GBs
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_DROP = ["script", "style", "nav", "aside", "form", "noscript", "template", "svg", "iframe", "button"]
# Converted formats (HTML, PDF, DOCX) mark their headings as '#' lines; this private character
# opens each such line while converting, so that a line of the content that happens to start with
# '#' (a comment in a code example) is not taken for a heading. It is removed before analysis.
_HEAD = "\ue000"
_DROP_ROLES = ["navigation", "search", "banner", "contentinfo", "complementary"]
_BLOCK = {"p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "table",
          "tr", "blockquote", "pre", "figure", "figcaption", "address", "hr", "details",
          "summary", "caption", "body", "header", "footer", "tbody", "thead"}


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file's bytes, read in chunks (the document id)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_MB), b""):
                h.update(chunk)
    except OSError as e:
        raise LoadError(str(path), f"cannot be read ({e.strerror or e})", "check the path and its permissions") from e
    return h.hexdigest()


def _size(n: float) -> str:
    return f"{n / _MB:.1f} MB" if n >= _MB / 10 else f"{n / 1024:.1f} KB" if n >= 1024 else f"{int(n)} bytes"


def _read(path: Path, name: str, limit: int) -> bytes:
    """The file's bytes, after checking it exists, is a regular file, and is not too big."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise LoadError(name, "file not found", "check the path and spelling") from None
    except PermissionError:
        raise LoadError(name, "permission denied", "make the file readable (chmod +r) or run as its owner") from None
    except OSError as e:
        raise LoadError(name, f"cannot be read ({e.strerror or e})", "check the path") from None
    if stat.S_ISDIR(st.st_mode):
        raise LoadError(name, "is a directory, not a file", "pass the files inside it, e.g. rag ingest DIR/")
    if not stat.S_ISREG(st.st_mode):
        raise LoadError(name, "is not a regular file", "pass a regular file")
    if path.suffix.lower() not in SUPPORTED:
        raise LoadError(name, f"unsupported file type '{path.suffix or '(none)'}'",
                        f"convert it to one of {', '.join(sorted(SUPPORTED))}")
    too_big = LoadError(name, f"file is {_size(st.st_size)}, over the {_size(limit)} limit",
                        "raise RAG_MAX_FILE_MB or split the file")
    if st.st_size > limit:
        raise too_big
    if st.st_size == 0:
        raise LoadError(name, "file is empty", "check that it was saved or downloaded completely")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except PermissionError:
        raise LoadError(name, "permission denied", "make the file readable (chmod +r) or run as its owner") from None
    except OSError as e:
        raise LoadError(name, f"cannot be read ({e.strerror or e})", "check the file and the disk") from None
    if len(data) > limit:
        raise too_big
    return data


def _looks_binary(data: bytes) -> bool:
    """NUL bytes, or more than 5% control characters in the first 64 KB: not text."""
    if b"\x00" in data:
        return True
    sample = data[:65536]
    return len(sample) - len(sample.translate(None, _CONTROL)) > 0.05 * len(sample)


def _decode(data: bytes, name: str) -> str:
    """Text of a .txt/.md file: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252."""
    binary = LoadError(name, "looks like a binary file, not text",
                       "check what the file really is and give it its real extension")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise binary from None
        if _looks_binary(text.encode("utf-8")):
            raise binary
        return text
    if _looks_binary(data):
        raise binary
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):  # utf-8-sig: UTF-8, BOM or not
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise binary  # unreachable: latin-1 decodes any bytes


def _html(data: bytes, name: str) -> str:
    """Visible text of an HTML page; headings become '#' lines, page furniture is dropped.

    header/footer are dropped only outside <article>/<main>: an article's own header holds
    its headline.
    """
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString, PreformattedString

    if _looks_binary(data) and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError(name, "looks like a binary file, not HTML", "check what the file really is")
    tags = data.count(b"<") - data.count(b"</")  # opening tags, roughly, without parsing
    if tags > _HTML_TAGS:
        raise LoadError(name, f"HTML has about {tags:,} tags, over the {_HTML_TAGS:,} limit",
                        "save the page as PDF or text, or split it")
    soup = BeautifulSoup(data, "lxml")
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": _DROP_ROLES}):  # the same furniture, marked by its ARIA role
        if not tag.decomposed:
            tag.decompose()
    for tag in soup.find_all(["header", "footer"]):
        if not tag.decomposed and not tag.find_parent(["article", "main"]):
            tag.decompose()
    root = soup.body or soup
    level = 1  # the level of the last h1-h6: a definition term is a heading below it
    out: list[str] = []
    # depth-first with an explicit stack, not recursion: a page nested 100,000 tags deep is
    # still read. The stack holds child iterators, and text to emit once a tag is done.
    stack: list = [iter(root.children)]
    while stack:
        top = stack[-1]
        if isinstance(top, str):
            out.append(stack.pop())
            continue
        child = next(top, None)
        if child is None:
            stack.pop()
        elif isinstance(child, PreformattedString):  # comments, doctype, CDATA
            continue
        elif isinstance(child, NavigableString):
            out.append(re.sub(r"\s+", " ", str(child)))
        elif child.name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            level = int(child.name[1])
            out.append(f"\n\n{_HEAD}{'#' * level} {_inline(child)}\n\n")
        elif child.name == "dt" and (term := _inline(child)):
            # a definition list's term names what its description is about ("request_timeout
            # (integer)", a function's signature): a heading below the current one, so that every
            # paragraph of the description carries it in its section
            depth = min(6, level + len(child.find_parents("dl")))
            out.append(f"\n\n{_HEAD}{'#' * depth} {term}\n\n")
        elif child.name == "table" and (rows := _table_rows(child)):
            out.append("\n\n" + "\n\n".join(rows) + "\n\n")
        elif child.name == "br":
            out.append("\n")
        elif child.name in ("td", "th"):
            stack += [" ", iter(child.children)]
        elif child.name in _BLOCK:
            out.append("\n\n")
            stack += ["\n\n", iter(child.children)]
        elif child.name not in ("head", "title"):
            stack.append(iter(child.children))
    text = _tidy("".join(out))
    if page_title and not re.search(rf"(?m)^{_HEAD}# ", text):
        text = f"{_HEAD}# {page_title}\n\n{text}"
    return text


def _inline(tag) -> str:
    """A tag's text on one line: its pieces joined as written (a signature's spans without spaces
    added between them), permalink marks ("¶") left out."""
    return " ".join(tag.get_text("").replace("\u00b6", " ").split())


def _table_rows(table) -> list[str]:
    """A table's rows as lines. With a header row, each cell is written after its column's header
    ("Option: timeout; Default: 0"), so that a row read alone still says what its values are;
    without one, the cells are joined by " | ". A table holding another table is read as text."""
    if table.find("table"):
        return []
    rows = [[" ".join(c.get_text(" ").split()) for c in tr.find_all(["th", "td"], recursive=False)]
            for tr in table.find_all("tr")]
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    first = table.find("tr")
    header = rows[0] if first is not None and all(c.name == "th" for c in first.find_all(["th", "td"], recursive=False)) \
        else None
    if header is None or len(rows) < 2:
        return [" | ".join(c for c in r if c) for r in rows]
    return [" | ".join(header)] + ["; ".join(f"{h}: {c}" if h else c for h, c in zip(header, r) if c)
                                   for r in rows[1:]]


def _heading_lines(text: str) -> tuple[str, set[int]]:
    """The converted text without its heading marks, and where each marked line now starts."""
    out, starts, removed = [], set(), 0
    for m in re.finditer(_HEAD, text):
        starts.add(m.start() - removed)
        removed += 1
    return text.replace(_HEAD, ""), starts


def _tidy(text: str) -> str:
    """Strip each line, and collapse runs of blank lines into one."""
    lines = [re.sub(r"[ \t\xa0]+", " ", ln).strip() for ln in text.replace("\x00", "").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _pdf(data: bytes, name: str) -> str:
    """Text of every page, pages separated by a blank line."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    # pypdf logs a warning per repaired object: a hostile file can print thousands of lines.
    # Its failures still reach the user, as the LoadError below.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if b"%PDF-" not in data[:1024]:
        raise LoadError(name, "is not a PDF (no %PDF header)", "check what the file really is")
    if b"%%EOF" not in data[-4096:]:
        raise LoadError(name, "PDF is truncated (no end-of-file marker)", "download or export it again")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:
                opened = 0
            if not opened:
                raise LoadError(name, "PDF is encrypted with a password",
                                "remove the password (e.g. qpdf --decrypt in.pdf out.pdf) and ingest the result")
        pages = [(page.extract_text() or "").splitlines() for page in reader.pages]
        pages = _pdf_structure(pages, _outline(reader))
    except LoadError:
        raise
    except RecursionError:
        raise LoadError(name, "PDF nests its objects too deeply to read (corrupt or hostile)",
                        "download or export it again") from None
    except LimitReachedError as e:
        raise LoadError(name, f"PDF holds data that unpacks past the safety limit, a possible decompression "
                        f"bomb ({e})", "check where the file came from") from None
    except Exception as e:
        raise LoadError(name, f"PDF is corrupt ({type(e).__name__}: {e})", "download or export it again") from None
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise LoadError(name, "PDF has no extractable text; it may be a scanned image and needs OCR",
                        "run OCR first (e.g. ocrmypdf in.pdf out.pdf) and ingest the result")
    return text


def _outline(reader) -> list[tuple[int, str, int]]:
    """(depth, title, page index) of each entry of a PDF's outline (its bookmarks), in order; []
    when it has none or it cannot be read."""
    out: list[tuple[int, str, int]] = []

    def walk(entries, depth):
        for e in entries:
            if isinstance(e, list):
                walk(e, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(e)
            except Exception:  # a broken destination: the entry is left out, the text is still read
                continue
            if page is not None and page >= 0 and str(e.title or "").strip():
                out.append((depth, " ".join(str(e.title).split()), page))

    try:
        walk(reader.outline, 0)
    except Exception:
        return []
    return out


_LEADERS = re.compile(r"(?:\.\s?){5,}\s*\d+$")  # "Dashtype . . . . . . 51": a table of contents' entry


def _line_key(line: str) -> str:
    return re.sub(r"[\W_]+", "", line.lower())


def _pdf_structure(pages: list[list[str]], outline: list[tuple[int, str, int]]) -> list[str]:
    """Each page's text with its running header and footer and its table-of-contents entries left
    out, and its section titles made '#' heading lines.

    A running header or footer ("142 Pump manual 2.1") is a first or last line of a page that, read
    with its digits as one mark, stands there on at least 3 pages and a third of them: it splits
    the paragraph it falls into and says nothing the page does not. A section title is a line
    that reads as an outline entry of that page (letters and digits compared), and becomes a
    heading one level below its parent entry, so that the paragraphs after it carry it."""
    edges: dict[str, int] = {}
    for lines in pages:
        body = [ln.strip() for ln in lines if ln.strip()]
        for form in {re.sub(r"\d+", "#", ln) for ln in body[:2] + body[-2:]}:
            edges[form] = edges.get(form, 0) + 1
    running = {f for f, n in edges.items() if n >= 3 and n >= len(pages) / 3}
    titles: dict[int, list[tuple[int, str]]] = {}
    for depth, title, page in outline:
        titles.setdefault(page, []).append((depth, _line_key(title)))
    out = []
    for i, lines in enumerate(pages):
        body = [ln.strip() for ln in lines if ln.strip()]
        last = len(body) - 1
        kept = [ln for j, ln in enumerate(body)
                if not ((j < 2 or j > last - 2) and re.sub(r"\d+", "#", ln) in running) and not _LEADERS.search(ln)]
        at = 0
        for depth, key in titles.get(i, ()):
            j = next((j for j in range(at, len(kept)) if key and _line_key(kept[j]) == key), None)
            if j is not None:
                kept[j] = f"{_HEAD}{'#' * min(depth + 1, 6)} {kept[j]}"
                at = j + 1
        out.append(_tidy("\n".join(kept)))
    return out


def _docx(data: bytes, name: str, limit: int) -> str:
    """Paragraphs and table rows in document order; heading styles become '#' lines."""
    corrupt = LoadError(name, "is not a valid .docx (corrupt, truncated or not a Word file)",
                        "open it in Word or LibreOffice and save it again as .docx")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise corrupt from None
    cap = min(_UNZIP_RATIO * limit, _UNZIP_CAP)
    unpacked = sum(m.file_size for m in members)
    if unpacked > cap or len(members) > 10_000:
        raise LoadError(name, f"unpacks to {_size(unpacked)} in {len(members)} parts, over the "
                        f"{_size(cap)} safety limit (possible zip bomb)", "check where the file came from")
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph as DocxParagraph

    try:
        if zf.testzip() is not None:
            raise corrupt
        doc = docx.Document(io.BytesIO(data))
        out = []
        for child in doc.element.body.iterchildren():
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "p":
                p = DocxParagraph(child, doc)
                text = re.sub(r"\s+", " ", p.text).strip()
                style = (p.style.name if p.style is not None else "") or ""
                level = re.search(r"(\d)", style)
                if text and style.lower().startswith("heading"):
                    text = _HEAD + "#" * (int(level.group(1)) if level else 1) + " " + text
                elif text and style.lower() == "title":
                    text = _HEAD + "# " + text
                out.append(text)
            elif tag == "tbl":
                for row in Table(child, doc).rows:
                    cells = list(dict.fromkeys(re.sub(r"\s+", " ", c.text).strip() for c in row.cells))
                    out.append(" | ".join(c for c in cells if c))
    except LoadError:
        raise
    except Exception:
        raise corrupt from None
    return "\n\n".join(t for t in out if t)


def _default_limit() -> int:
    from rag.settings import get_settings

    return int(get_settings().max_file_mb * _MB)


def load_file(path: Path, source: str | None = None, *, max_bytes: int | None = None) -> Document:
    """Read one file into a Document, or raise LoadError saying what is wrong and what to do.

    `source` is the path as the user gave it (default str(path)); it names the file in
    errors and in citations. `max_bytes` defaults to the RAG_MAX_FILE_MB setting.
    """
    path = Path(path)
    name = source if source is not None else str(path)
    limit = max_bytes if max_bytes is not None else _default_limit()
    try:
        data = _read(path, name, limit)
        fmt = _FORMAT[path.suffix.lower()]
        if fmt in ("txt", "md"):
            text = _decode(data, name)
        elif fmt == "html":
            text = _html(data, name)
        elif fmt == "pdf":
            text = _pdf(data, name)
        else:
            text = _docx(data, name, limit)
        headings = None
        if fmt not in ("txt", "md"):
            text, headings = _heading_lines(text)
        if not text.strip():
            raise LoadError(name, "contains no text", "check that the file is not blank")
        paragraphs, meta = analyse(text, fmt, headings)
    except LoadError as e:
        if "\n" in str(e):  # one line, always
            raise LoadError(name, " ".join(e.reason.split()), " ".join(e.fix.split())) from None
        raise
    except Exception as e:  # whatever a parser throws, the caller sees a LoadError
        raise LoadError(name, f"could not be loaded ({type(e).__name__}: {' '.join(str(e).split())})",
                        "check the file; if it opens elsewhere, report this as a bug") from None
    if not paragraphs:
        raise LoadError(name, "no text left after removing page furniture (menus, banners, footers)",
                        "check that the file holds the document's text")
    return Document(
        id=hashlib.sha256(data).hexdigest(),
        source=name,
        title=meta.get("title") or path.stem,
        text=text,
        format=fmt,
        paragraphs=paragraphs,
        date=meta.get("date"),
        symbol=meta.get("symbol"),
        body=meta.get("body"),
        references=tuple(meta.get("references") or ()),
    )
