"""Odd but valid CSV for the transform engine's parsers (bench/transform/compare.sh):
LINES lines of 1..20 fields mixing %.6g/%.9g/%.17g/%e numbers, padded fields,
'+', empty fields, nan/inf spellings, 30-digit integers, long decimals,
'-.5' / '5.' forms, CRLF, blank and all-space lines.
  python3 odd_csv.py LINES [SEED] > odd.csv"""
import random, sys
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
def field():
    r = random.random()
    x = random.gauss(0, 1) * 10 ** random.randint(-12, 12)
    if r < 0.30: return "%.6g" % x
    if r < 0.40: return "%.9g" % x
    if r < 0.45: return "%.17g" % x
    if r < 0.50: return "%e" % x
    if r < 0.55: return " %.4f " % x
    if r < 0.58: return "+%.3f" % abs(x)
    if r < 0.61: return ""
    if r < 0.63: return random.choice(["nan", "inf", "-inf", "NaN", "Infinity"])
    if r < 0.65: return "".join(random.choice("0123456789") for _ in range(30))
    if r < 0.68: return "0.%s" % "".join(random.choice("0123456789") for _ in range(random.randint(1, 20)))
    if r < 0.71: return "-.%d" % random.randint(0, 99999)
    if r < 0.74: return "%d." % random.randint(0, 99999)
    if r < 0.77: return "%d" % random.randint(-10**8, 10**8)
    if r < 0.80: return "%.1f" % x
    if r < 0.83: return "16777%03d" % random.randint(0, 999)
    if r < 0.86: return "%.10f" % x
    if r < 0.88: return "%.0e" % x
    return "%.6g" % x
out = []
for i in range(int(sys.argv[1])):
    n = random.randint(1, 20)
    line = ",".join(field() for _ in range(n))
    r = random.random()
    if r < 0.05: line += "\r"
    if r > 0.99: line = ""
    if 0.98 < r <= 0.99: line = "   "
    out.append(line)
sys.stdout.write("\n".join(out) + ("\n" if random.random() < 0.5 else ""))
