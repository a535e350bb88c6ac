// The examples' option parser on its own: every malformed or out-of-range value is refused
// before any conversion (run under UBSan in the asan preset, where an out-of-range
// double-to-integer cast would abort), and in-range values come back exactly.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "common/cli.hpp"

namespace {
int failures = 0;

void expect(bool ok, const char* what, const std::string& input) {
  if (!ok) {
    std::printf("FAIL: %s for '%s'\n", what, input.c_str());
    ++failures;
  }
}

void accepts(const example::option_spec& spec, const std::string& text, double want) {
  double v = -12345;
  const auto why = example::check_value(spec, text, v);
  expect(!why, "refused an in-range value", text);
  expect(!why && v == want, "wrong value", text);
}

void refuses(const example::option_spec& spec, const std::string& text) {
  double v = -12345;
  const auto why = example::check_value(spec, text, v);
  expect(why.has_value(), "accepted a bad value", text);
  expect(v == -12345, "wrote the target of a refused value", text);
  expect(!why || why->find('\n') == std::string::npos, "a refusal spans lines", text);
}
}  // namespace

int main() {
  double target = 0;
  const example::option_spec whole{"cameras", "", 1, 1024, &target, true};
  const example::option_spec real{"seconds", "", 0.2, 3600, &target, false};
  const example::option_spec seed{"seed", "", 0, 1e15, &target, true};

  accepts(whole, "1", 1);
  accepts(whole, "1024", 1024);
  accepts(whole, "+7", 7);
  accepts(whole, "16.0", 16);
  accepts(whole, "1e3", 1000);
  accepts(real, "0.2", 0.2);
  accepts(real, ".5", 0.5);
  accepts(real, "3600", 3600);
  accepts(real, "3.6E3", 3600);
  accepts(seed, "0", 0);
  accepts(seed, "-0", 0);
  accepts(seed, "1000000000000000", 1e15);
  accepts(seed, "1e15", 1e15);

  // Bounds, by the smallest step a user would type.
  refuses(whole, "0");
  refuses(whole, "1025");
  refuses(real, "0.19");
  refuses(real, "3600.001");
  refuses(seed, "-1");
  refuses(seed, "1000000000000001");
  // Huge and non-finite values: refused by the range check, never cast (UB before the fix).
  for (const char* s : {"1e20", "-1e20", "1e300", "-1e300", "1e400", "9223372036854775808",
                        "18446744073709551616", "1e308"}) {
    refuses(whole, s);
    refuses(seed, s);
  }
  // Not plain decimal numbers.
  for (const char* s : {"0x10", "0X10", "0x1p4", "inf", "-inf", "infinity", "nan",   "NaN", "",
                        " ",    " 5",   "5 ",    "5x",  "1,5",  "1.5.0",    "e5",    ".",   "+",
                        "-",    "1e",   "1e+",   "--5", "++5",  "0b101",    "1_000", "\t5"}) {
    refuses(whole, s);
    refuses(real, s);
  }
  // Whole-number options refuse fractions, even tiny ones.
  for (const char* s : {"1.5", "2.0000001", "1023.9999", "1e-300"}) refuses(whole, s);
  // Underflow reads as (near) zero and is then judged by the range.
  refuses(real, "1e-400");
  accepts(seed, "1e-400", 0);

  std::printf("%s: %d failure(s)\n", failures == 0 ? "ok" : "FAILED", failures);
  return failures == 0 ? 0 : 1;
}
