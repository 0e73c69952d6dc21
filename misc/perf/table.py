"""The table of figures a paired benchmark prints at its end.

A table maps a row name to ``{implementation: figure}``, plus, with two
implementations, ``"ratio"`` (how many times better the first one did) and,
when the figure was measured in pairs, ``"pair ratios"`` (one per pair; the
ratio is their median).
"""

import statistics


def pair_ratio(table_row: dict, ratios) -> None:
    """Put the median of the pairs' ``ratios`` (and the ratios) in a row."""
    table_row["ratio"] = statistics.median(ratios)
    table_row["pair ratios"] = list(ratios)


def print_table(impls, table, title="measure (median)", better="less %s took than %s"):
    """Print ``table``'s rows, one figure per implementation and the ratio;
    ``better`` says what the ratio means (two ``%s``: the implementations)."""
    width = max([len(r) for r in table] + [len(title)]) + 2
    print("\n%-*s" % (width, title) + "".join("%12s" % i for i in impls) +
          ("%10s" % "ratio" if len(impls) == 2 else ""))
    for row, figures in table.items():
        line = "%-*s" % (width, row) + "".join("%12.3f" % figures.get(i, float("nan")) for i in impls)
        if "ratio" in figures:
            line += "%9.2fx" % figures["ratio"]
            if "pair ratios" in figures:
                line += " (median of %d pairs: %s)" % (
                    len(figures["pair ratios"]), " ".join("%.2f" % r for r in figures["pair ratios"]))
        print(line)
    if len(impls) == 2:
        print("(ratio: how many times %s)" % (better % (impls[0], impls[1])))
