"""sqlglot's T-SQL, taught the one construct of Synapse serverless SQL it does not know:
`OPENROWSET(BULK 'path', NAME = 'value', ...) WITH (column type [COLLATE c], ...)`.

sqlglot's parser reads `OPENJSON(...) WITH (...)` the same way (the function's parser takes
the `) WITH (` and the column list), so the view's SELECT parses strictly and its columns
come out as ColumnDefs whose types can be compared with a Delta table's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.tsql import TSQL
from sqlglot.tokens import TokenType


class OpenRowset(exp.Expression, exp.Func):
    arg_types: ClassVar[dict[str, bool]] = {"this": True, "options": False, "columns": False}
    _sql_names: ClassVar[list[str]] = ["OPENROWSET"]


class ServerlessTSQL(TSQL):
    class Parser(TSQL.Parser):
        FUNCTION_PARSERS: ClassVar[dict[str, Any]] = {
            **TSQL.Parser.FUNCTION_PARSERS,
            "OPENROWSET": lambda self: self._parse_openrowset(),
        }

        def _parse_openrowset(self) -> OpenRowset:
            if not self._match_text_seq("BULK"):
                self.raise_error("OPENROWSET reads files here: expected BULK")
            path = self._parse_string()
            options = []
            while self._match(TokenType.COMMA):
                key = self._parse_var(any_token=True)
                self._match(TokenType.EQ)
                options.append(exp.Property(this=key, value=self._parse_string()))
            columns = None
            if self._match_pair(TokenType.R_PAREN, TokenType.WITH):
                self._match_l_paren()
                columns = self._parse_csv(self._parse_field_def)
            return self.expression(OpenRowset(this=path, options=options, columns=columns))


def parse(batch: str) -> list[exp.Expression]:
    """Every statement of a batch, parsed strictly (an error raises)."""
    return [statement for statement in sqlglot.parse(
        batch, read=ServerlessTSQL, error_level=sqlglot.ErrorLevel.RAISE) if statement]


def view_columns(statement: exp.Expression
                 ) -> tuple[str, dict[str, str], list[tuple[str, exp.DataType, str | None]]]:
    """A parsed `CREATE VIEW ... OPENROWSET(...) WITH (...)`: the path read, the options, and
    each column's name, type and collation (None without one)."""
    [rowset] = list(statement.find_all(OpenRowset))
    options = {option.name.upper(): option.args["value"].name
               for option in rowset.args["options"]}
    columns = []
    for column in rowset.args["columns"]:
        collations = [constraint.args["kind"].this.name for constraint
                      in column.args.get("constraints") or []
                      if isinstance(constraint.args["kind"], exp.CollateColumnConstraint)]
        columns.append((column.name, column.args["kind"], collations[0] if collations else None))
    return rowset.this.name, options, columns
