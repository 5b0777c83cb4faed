"""The package is Python 3.9 syntax, whatever Python runs the tests."""

from __future__ import annotations

import ast
import pathlib
import unittest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "tokenhub_client"


class SyntaxTest(unittest.TestCase):
    def test_every_module_parses_as_python_3_9(self) -> None:
        modules = sorted(PACKAGE.glob("*.py"))
        self.assertGreater(len(modules), 0)
        for module in modules:
            with self.subTest(module=module.name):
                ast.parse(module.read_text(encoding="utf-8"), filename=str(module), feature_version=(3, 9))
