"""HTML forms read the way a browser submits them: each form's action and its inputs. Used by
``bff audit`` to sign in through a provider's page, and by the tests and the benchmark as their
scripted browser; one parser for all three."""

from __future__ import annotations

import html.parser
from dataclasses import dataclass, field


@dataclass
class HtmlForm:
    action: str | None = None
    inputs: list[dict[str, str]] = field(default_factory=list)

    @property
    def fields(self) -> dict[str, str]:
        """What submitting it unchanged would send: each named input and its value."""
        return {i["name"]: i.get("value", "") for i in self.inputs if i.get("name")}

    @property
    def has_password(self) -> bool:
        return any(i.get("type") == "password" for i in self.inputs)


class _Parser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[HtmlForm] = []
        self._current: HtmlForm | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = HtmlForm(action=values.get("action", ""))
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None:
            self._current.inputs.append(values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def html_forms(page: str) -> list[HtmlForm]:
    parser = _Parser()
    parser.feed(page)
    return parser.forms


def first_form(page: str) -> HtmlForm:
    """The page's first form; one without an action and inputs when it has none."""
    forms = html_forms(page)
    return forms[0] if forms else HtmlForm()
