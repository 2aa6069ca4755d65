"""HTML mail bodies to readable plain text, with selectolax (Lexbor) doing the HTML parsing.

Why selectolax: MIT, one small C extension with no further dependencies (inscriptis needs lxml),
an HTML5-conformant parser that copes with any tag soup mail clients send, and fast (a 1 MB
newsletter parses in milliseconds). Its own ``text()`` flattens the tree, so the walk below keeps
the block structure a reader needs: paragraphs, line breaks, list items, table rows, and quoted
history (``<blockquote>``) as ``> `` lines so the cleaner can trim it like plain-text quotes.
The walk is iterative, so deeply nested HTML cannot overflow the stack; and since HTML5 tree
building is quadratic in nesting depth (50,000 nested divs take Lexbor ten seconds), markup nested
more than MAX_DEPTH deep is read by the stdlib tokenizer instead (:func:`flat_text`, linear).
Imported lazily: only HTML mail pays for loading the extension.
"""
from __future__ import annotations

import re

_SKIP = frozenset({"head", "script", "style", "template", "title", "meta", "link", "noscript", "object",
                   "embed", "iframe", "svg", "math", "select", "option", "button", "input", "textarea"})
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "pre",
                        "address", "figure", "form", "fieldset"})
_BLOCK = frozenset({"div", "li", "tr", "dt", "dd", "section", "article", "header", "footer", "main",
                    "nav", "aside", "center", "figcaption", "caption", "hr", "tbody", "thead", "tfoot",
                    "body", "html", "blockquote", "details", "summary"})
_CELL = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b\ufeff]+")
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
MAX_NODES = 400_000


class _Writer:
    """Lines of text, each remembering the blockquote depth it was written at."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.current: list[str] = []
        self.depth = 0
        self.line_depth = 0

    def text(self, chunk: str, keep_space: bool = False) -> None:
        if not chunk:
            return
        if not self.current:
            self.line_depth = self.depth
            chunk = chunk if keep_space else chunk.lstrip(" ")
            if not chunk:
                return
        self.current.append(chunk)

    def newline(self) -> None:
        if self.current:
            self.lines.append((self.line_depth, "".join(self.current).rstrip()))
            self.current = []

    def hard_break(self) -> None:
        if self.current:
            self.newline()
        else:
            self.lines.append((self.depth, ""))

    def blank_line(self) -> None:
        self.newline()
        if self.lines and self.lines[-1][1]:
            self.lines.append((self.depth, ""))

    def result(self) -> str:
        self.newline()
        out = []
        for depth, line in self.lines:
            out.append(("> " * depth + line).rstrip() if depth else line)
        return "\n".join(out).strip("\n")


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,30})")
# void elements, and elements whose start tag closes an open one of their kind (they never nest deep)
_FLAT_TAGS = frozenset({"br", "img", "meta", "input", "hr", "link", "wbr", "col", "area", "base", "source",
                        "track", "embed", "param", "p", "li", "td", "th", "tr", "dt", "dd", "option"})
MAX_DEPTH = 3000  # HTML5 tree building is quadratic in nesting depth: 20,000 open tags cost seconds


def too_deep(html: str) -> bool:
    """Whether tags nest more than MAX_DEPTH deep (an attack on HTML parsers, read by
    :func:`flat_text` instead). A linear scan of the tags, counting opened minus closed per name."""
    if len(html) < 3 * MAX_DEPTH:
        return False
    open_by_name: dict[str, int] = {}
    depth = 0
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _FLAT_TAGS:
            continue
        if match.group(1):
            if open_by_name.get(name):
                open_by_name[name] -= 1
                depth -= 1
        else:
            open_by_name[name] = open_by_name.get(name, 0) + 1
            depth += 1
            if depth > MAX_DEPTH:
                return True
    return False


def html_to_text(html: str) -> str:
    """Readable text of an HTML document or fragment; never raises on odd markup."""
    if too_deep(html):
        return flat_text(html)
    from selectolax.lexbor import LexborHTMLParser  # lazy: a C extension only HTML mail needs

    tree = LexborHTMLParser(html)
    root = tree.body or tree.root
    if root is None:
        return ""
    out = _Writer()
    stack: list[tuple[object, bool]] = [(root, False)]
    seen = 0
    pre = 0
    while stack:
        node, leaving = stack.pop()
        tag = node.tag  # type: ignore[attr-defined]
        if leaving:
            if tag == "pre":
                pre -= 1
            if tag == "blockquote":
                out.newline()
                out.depth -= 1
            elif tag in _PARAGRAPH:
                out.blank_line()
            elif tag in _BLOCK:
                out.newline()
            elif tag in _CELL:
                out.text(" ")
            continue
        seen += 1
        if seen > MAX_NODES:
            break
        if tag == "-text":
            value = node.text_content or ""  # type: ignore[attr-defined]
            if pre:
                parts = value.replace("\r", "").split("\n")
                for i, part in enumerate(parts):
                    if i:
                        out.hard_break()
                    out.text(part.replace("\u00a0", " "), keep_space=True)
            else:
                out.text(_SPACES.sub(" ", value))
            continue
        if tag in _SKIP or tag.startswith("-") or tag.startswith("o:"):
            continue
        attrs = node.attributes  # type: ignore[attr-defined]
        style = attrs.get("style") if attrs else None
        if (style and _HIDDEN.search(style)) or (attrs and "hidden" in attrs):
            continue
        if tag == "br":
            out.hard_break()
            continue
        if tag == "img":
            continue
        if tag == "pre":
            pre += 1
        if tag == "blockquote":
            out.newline()
            out.depth += 1
        elif tag in _PARAGRAPH:
            out.blank_line()
        elif tag in _BLOCK:
            out.newline()
        if tag == "li":
            out.text("- ")
        stack.append((node, True))
        children = list(node.iter(include_text=True))  # type: ignore[attr-defined]
        stack.extend((child, False) for child in reversed(children))
    return out.result()


def flat_text(html: str) -> str:
    """Text of pathological HTML in linear time (the stdlib tokenizer, no tree): block tags still
    break lines, scripts and styles are still dropped; quoting and tables are not rendered."""
    from html.parser import HTMLParser

    class _Flat(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.skipping = 0

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag in ("script", "style", "head", "title", "template", "noscript"):
                self.skipping += 1
            elif tag == "br" or tag in _BLOCK or tag in _PARAGRAPH:
                self.parts.append("\n")

        def handle_endtag(self, tag: str) -> None:
            if tag in ("script", "style", "head", "title", "template", "noscript"):
                self.skipping = max(0, self.skipping - 1)
            elif tag in _BLOCK or tag in _PARAGRAPH:
                self.parts.append("\n")

        def handle_data(self, data: str) -> None:
            if not self.skipping:
                self.parts.append(_SPACES.sub(" ", data))

    parser = _Flat()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
