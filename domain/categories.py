"""The ticket category taxonomy (投诉/报事分类): two levels, as data (issue #16 item 5).

A ticket's `category` stays the text the caller sent (API.md: a free string; clients
written against it send what their front desk types). The taxonomy *classifies* that
text into a level-1 and a level-2 category for analysis and dispatch: a code
(`engineering.plumbing_electrical`), a level-2 name (`水电`), a path in either language
(`工程维修 › 水电`, `工程维修/水电`, `engineering/plumbing_electrical`) or a level-1 alone
(`安保`, `security`). Text the taxonomy does not know is classified as `other`
(其他), never refused, so nothing a client records is lost; the analysis counts it
under 其他 and lists the raw texts so the taxonomy can be extended.

A company replaces the default with its own table (same shape) through the ticket
policy; `taxonomy_from` validates one and names the fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: level-1 code -> {name (Chinese), name_en, aliases (other spellings front desks use),
#: children: {level-2 code -> {name, name_en, aliases}}}
DEFAULT_TAXONOMY: dict[str, Any] = {
    "engineering": {
        "name": "工程维修",
        "name_en": "Engineering & repairs",
        "aliases": ["repair", "repairs", "maintenance", "工程", "维修"],
        "children": {
            "plumbing_electrical": {
                "name": "水电",
                "name_en": "Plumbing & electrical",
                "aliases": [
                    "plumbing",
                    "electrical",
                    "water",
                    "leak",
                    "漏水",
                    "停水",
                    "停电",
                    "给排水",
                    "照明",
                    "lighting",
                ],
            },
            "lifts": {"name": "电梯", "name_en": "Lifts", "aliases": ["lift", "elevator"]},
            "building": {"name": "土建", "name_en": "Building fabric", "aliases": ["装修"]},
            "public_facilities": {
                "name": "公共设施",
                "name_en": "Public facilities",
                "aliases": ["设施"],
            },
        },
    },
    "security": {
        "name": "安保",
        "name_en": "Security",
        "children": {
            "access": {"name": "门岗出入", "name_en": "Access control", "aliases": ["门禁"]},
            "parking": {"name": "车辆停放", "name_en": "Parking", "aliases": ["停车"]},
            "patrol": {"name": "巡逻", "name_en": "Patrols"},
        },
    },
    "cleaning": {
        "name": "保洁",
        "name_en": "Cleaning",
        "aliases": ["clean", "hygiene", "卫生", "清洁"],
        "children": {
            "public_areas": {"name": "公共区域", "name_en": "Public areas"},
            "waste": {"name": "垃圾清运", "name_en": "Waste removal"},
        },
    },
    "greening": {
        "name": "绿化",
        "name_en": "Landscaping",
        "aliases": ["greening", "garden", "gardening", "园林"],
        "children": {
            "maintenance": {"name": "绿化养护", "name_en": "Maintenance"},
            "pests": {"name": "病虫害", "name_en": "Pests"},
        },
    },
    "charges": {
        "name": "收费",
        "name_en": "Charges",
        "aliases": ["billing", "fees", "fee", "缴费"],
        "children": {
            "property_fee": {"name": "物业费", "name_en": "Property fee"},
            "utilities": {"name": "水电费", "name_en": "Utility bills"},
        },
    },
    "attitude": {
        "name": "服务态度",
        "name_en": "Staff attitude",
        "aliases": ["service attitude", "rude", "态度"],
        "children": {},
    },
    "noise": {
        "name": "噪音扰民",
        "name_en": "Noise",
        "aliases": ["噪音", "噪声"],
        "children": {},
    },
    "other": {
        "name": "其他",
        "name_en": "Other",
        "children": {},
    },
}

OTHER = "other"
_SEPARATORS = re.compile(r"\s*(?:›|>|/|\\|\||»|-{1,2}>|：|:)\s*")


@dataclass(frozen=True)
class Classified:
    """Where a category text falls: level-1 code and name, level-2 code and name (None
    when the text named only a level-1 category or none that is known)."""

    l1: str
    l1_name: str
    l2: str | None
    l2_name: str | None
    known: bool

    @property
    def code(self) -> str:
        return f"{self.l1}.{self.l2}" if self.l2 else self.l1

    @property
    def path(self) -> str:
        return f"{self.l1_name} › {self.l2_name}" if self.l2_name else self.l1_name


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _spellings(code: str, node: dict[str, Any]) -> set[str]:
    """Every key a category is found by: its code, names and aliases."""
    texts = (code, node["name"], node.get("name_en", ""), *node.get("aliases", ()))
    return {_key(t) for t in texts if t}


class Taxonomy:
    """A validated two-level taxonomy with a lookup from any spelling to its place."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        self._l1: dict[str, str] = {}
        self._l2: dict[str, tuple[str, str]] = {}
        #: Per level-1 code, its children by spelling (for paths: `工程维修 › 漏水`).
        self._children: dict[str, dict[str, str]] = {}
        ambiguous: set[str] = set()
        for code, node in table.items():
            self._l1.update(dict.fromkeys(_spellings(code, node), code))
            children = self._children[code] = {}
            for child, leaf in node.get("children", {}).items():
                for k in _spellings(child, leaf):
                    children.setdefault(k, child)
                    if k in self._l2 and self._l2[k] != (code, child):
                        ambiguous.add(k)
                    self._l2[k] = (code, child)
                self._l2[_key(f"{code}.{child}")] = (code, child)
        for k in ambiguous:  # a level-2 name used under two parents needs its parent
            del self._l2[k]

    def classify(self, text: str | None) -> Classified:
        raw = _key(text or "")
        if raw in self._l2:
            return self._leaf(*self._l2[raw])
        if raw in self._l1:
            return self._top(self._l1[raw])
        parts = [p for p in _SEPARATORS.split(raw) if p]
        if len(parts) == 2 and parts[0] in self._l1:
            code = self._l1[parts[0]]
            child = self._children[code].get(parts[1])
            return self._leaf(code, child) if child else self._top(code)
        other = self.table.get(OTHER) or {"name": "其他"}
        return Classified(OTHER, other["name"], None, None, known=False)

    def _leaf(self, code: str, child: str) -> Classified:
        node = self.table[code]
        return Classified(code, node["name"], child, node["children"][child]["name"], True)

    def _top(self, code: str) -> Classified:
        return Classified(code, self.table[code]["name"], None, None, True)

    def rows(self) -> list[dict[str, Any]]:
        """The taxonomy as flat rows (for `GET` and the console): one per level-1 and
        level-2 category."""
        out: list[dict[str, Any]] = []
        for code, node in self.table.items():
            out.append(
                {
                    "code": code,
                    "level": 1,
                    "parent": None,
                    "name": node["name"],
                    "name_en": node.get("name_en", ""),
                }
            )
            for child, leaf in node.get("children", {}).items():
                out.append(
                    {
                        "code": f"{code}.{child}",
                        "level": 2,
                        "parent": code,
                        "name": leaf["name"],
                        "name_en": leaf.get("name_en", ""),
                    }
                )
        return out


def taxonomy_from(table: Any) -> Taxonomy:
    """A `Taxonomy` from a table shaped like `DEFAULT_TAXONOMY`, or ValueError naming
    the fault."""
    if not isinstance(table, dict) or not table:
        raise ValueError("category taxonomy must be a non-empty object of level-1 categories")
    for code, node in table.items():
        if not isinstance(code, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", code):
            raise ValueError(f"category code {code!r} must be lower-case letters, digits, _")
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or not node["name"]:
            raise ValueError(f"category {code!r} needs a non-empty 'name'")
        if not isinstance(node.get("aliases", []), list):
            raise ValueError(f"category {code!r}: 'aliases' must be a list of texts")
        children = node.get("children", {})
        if not isinstance(children, dict):
            raise ValueError(f"category {code!r}: 'children' must be an object")
        for child, leaf in children.items():
            if not isinstance(child, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", child):
                raise ValueError(
                    f"category code {code}.{child!s} must be lower-case letters, digits, _"
                )
            if (
                not isinstance(leaf, dict)
                or not isinstance(leaf.get("name"), str)
                or not leaf["name"]
            ):
                raise ValueError(f"category {code}.{child} needs a non-empty 'name'")
    return Taxonomy(table)


DEFAULT = Taxonomy(DEFAULT_TAXONOMY)
