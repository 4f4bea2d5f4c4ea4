"""`ConversionReport`: what a checkpoint conversion mapped, left at its initial value, and ignored (and why)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class ConversionReport:
    """What a conversion did.

    `loaded`: target names assigned; `mapped`: `(source name, target name, shape)` rows;
    `from_group0`: variables filled from `group_0` (the original's `--init_from_group0`);
    `missing_heads`: head weights the source lacks; `left_at_init`: target variable -> why nothing fed it;
    `ignored`: source name -> why it was not used (optimizer slots, `global_step`, tied copies, ...),
    with the optimizer/step ones also in `ignored_optimizer_state` and unrecognised ones in `ignored_unknown`.

    Example:

    >>> report = ConversionReport()
    >>> report.add_mapped("bert/pooler/dense/bias", "pooler/bias", (32,))
    >>> report.ignore("global_step", "training step counter, not a weight", optimizer=True)
    >>> report.summary()
    'loaded 1 variables; ignored 1 optimizer/step variables'
    """

    loaded: list = dataclasses.field(default_factory=list)
    from_group0: list = dataclasses.field(default_factory=list)
    missing_heads: list = dataclasses.field(default_factory=list)
    ignored_optimizer_state: list = dataclasses.field(default_factory=list)
    ignored_unknown: list = dataclasses.field(default_factory=list)
    mapped: list = dataclasses.field(default_factory=list)
    ignored: dict = dataclasses.field(default_factory=dict)
    left_at_init: dict = dataclasses.field(default_factory=dict)

    def add_mapped(self, source, target, shape):
        self.loaded.append(source)
        self.mapped.append((source, target, tuple(int(d) for d in shape)))

    def ignore(self, name, reason, optimizer=False, unknown=False):
        self.ignored[name] = reason
        if optimizer:
            self.ignored_optimizer_state.append(name)
        if unknown:
            self.ignored_unknown.append(name)

    def summary(self) -> str:
        return (
            f"loaded {len(self.loaded)} variables"
            + (f", {len(self.from_group0)} from group_0" if self.from_group0 else "")
            + (f"; heads left at init: {self.missing_heads}" if self.missing_heads else "")
            + f"; ignored {len(self.ignored_optimizer_state)} optimizer/step variables"
            + (f" and {len(self.ignored_unknown)} unknown ones: {self.ignored_unknown}" if self.ignored_unknown else "")
        )

    def table(self) -> str:
        """A plain-text table of every mapped, left-at-init and ignored name, for the converter CLI."""
        rows = [("mapped", source, target, "x".join(map(str, shape)) or "scalar") for source, target, shape in self.mapped]
        rows += [("at init", "-", target, why) for target, why in sorted(self.left_at_init.items())]
        rows += [("at init", "-", name, "the source has no such head weight") for name in self.missing_heads]
        rows += [("ignored", name, "-", why) for name, why in sorted(self.ignored.items())]
        header = ("status", "source", "target", "shape / reason")
        widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(3)]
        lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row[:3], widths)) + "  " + str(row[3]) for row in [header] + rows]
        counts = f"{len(self.mapped)} mapped, {len(self.left_at_init) + len(self.missing_heads)} at init, {len(self.ignored)} ignored"
        return "\n".join(lines + [counts])
