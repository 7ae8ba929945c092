"""Prints IR text whose prim::If blocks nest DEPTH levels deep (input-limits.test)."""
import sys

depth = int(sys.argv[1])
lines = ["graph(%c : bool, %x : Tensor):"]
for level in range(depth):
    indent = "  " * (2 * level + 1)
    lines += [f"{indent}%y{level} : Tensor = prim::If(%c)", f"{indent}  block0():"]
lines.append("  " * (2 * depth + 1) + "%r : Tensor = aten::relu(%x)")
for level in reversed(range(depth)):
    indent = "  " * (2 * level + 1)
    inner = "%r" if level == depth - 1 else f"%y{level + 1}"
    lines += [f"{indent}    -> ({inner})", f"{indent}  block1():", f"{indent}    -> (%x)"]
lines.append("  return (%y0)")
print("\n".join(lines))
