// A tiny command-line parser for the examples: --name value / --name=value, --help.
// Values are plain decimal numbers (no hex, no inf/nan); each is range-checked as a double
// before anything converts it, so no input can reach an out-of-range cast. A bad option
// prints one line on stderr; callers exit with code 2 (exit_usage).
#ifndef STREAMISO_EXAMPLES_CLI_HPP
#define STREAMISO_EXAMPLES_CLI_HPP

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace example {

inline constexpr int exit_usage = 2;  // a bad command line: nothing ran

struct option_spec {
  std::string_view name;  // without the leading "--"
  std::string_view help;
  double min;
  double max;
  double* target;
  bool integral;
};

// [+-] digits [. digits] [e [+-] digits], at least one mantissa digit: what strtod would
// also read as hex ("0x10"), "inf", "nan" or with leading blanks is refused here first.
[[nodiscard]] inline bool is_decimal(std::string_view s) noexcept {
  std::size_t i = 0;
  const auto digits = [&] {
    std::size_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ++i;
      ++n;
    }
    return n;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t mantissa = digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

// Why a value is refused, or nothing when `text` is a valid value for `spec` (then `out`
// holds it). Exposed for the parser's unit test.
[[nodiscard]] inline std::optional<std::string> check_value(const option_spec& spec,
                                                            const std::string& text, double& out) {
  const auto shown = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return std::string(buf);
  };
  const std::string range = shown(spec.min) + ".." + shown(spec.max);
  if (!is_decimal(text)) {
    return "'" + text + "' is not a decimal number (expected " + range + ")";
  }
  errno = 0;
  const double v = std::strtod(text.c_str(), nullptr);
  // Overflow gives +-HUGE_VAL (refused by the range test); underflow gives a value near zero,
  // which the range test judges like any other.
  if (!std::isfinite(v) || !(v >= spec.min && v <= spec.max)) {
    return text + " is outside " + range;
  }
  if (spec.integral && std::floor(v) != v) return text + " is not a whole number";
  out = v;
  return std::nullopt;
}

class cli {
 public:
  // `epilog` follows the options in --help (the exit codes, say).
  cli(std::string_view program, std::string_view summary, std::string_view epilog = {})
      : program_(program), summary_(summary), epilog_(epilog) {}

  void add(std::string_view name, std::string_view help, double* target, double min, double max,
           bool integral) {
    specs_.push_back(option_spec{name, help, min, max, target, integral});
  }

  enum class outcome { run, help, error };

  // Parses argv. On error prints one line (the reason and a --help hint) to stderr.
  outcome parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        usage(stdout);
        return outcome::help;
      }
      if (arg == "--dry-run") {
        dry_run_ = true;
        continue;
      }
      if (arg.substr(0, 2) != "--") return fail("unexpected argument '" + std::string(arg) + "'");
      arg.remove_prefix(2);
      std::string value;
      if (const auto eq = arg.find('='); eq != std::string_view::npos) {
        value = std::string(arg.substr(eq + 1));
        arg = arg.substr(0, eq);
      } else if (find(arg) != nullptr && i + 1 < argc) {
        value = argv[++i];
      } else if (find(arg) != nullptr) {
        return fail("option --" + std::string(arg) + " needs a value");
      }
      const option_spec* spec = find(arg);
      if (spec == nullptr) return fail("unknown option --" + std::string(arg));
      double v = 0;
      if (auto why = check_value(*spec, value, v))
        return fail("--" + std::string(spec->name) + ": " + *why);
      *spec->target = v;
    }
    return outcome::run;
  }

  // parse() folded into what main() needs: an exit code when the program should stop now
  // (0 after --help, exit_usage after a bad option), nothing when it should run.
  std::optional<int> exit_code(int argc, char** argv) {
    switch (parse(argc, argv)) {
      case outcome::help:
        return 0;
      case outcome::error:
        return exit_usage;
      case outcome::run:
        break;
    }
    return std::nullopt;
  }

  // --dry-run was given: check every option (and the caller its combinations), run nothing.
  [[nodiscard]] bool dry_run() const noexcept { return dry_run_; }

  // A refusal found after parsing (a combination of options): one line, like parse().
  int refuse(const std::string& why) const {
    (void)fail(why);
    return exit_usage;
  }

  // The values in effect, one line (for --dry-run).
  void print_values(std::FILE* out) const {
    std::fprintf(out, "%.*s", int(program_.size()), program_.data());
    for (const auto& s : specs_)
      std::fprintf(out, " --%.*s %.15g", int(s.name.size()), s.name.data(), *s.target);
    std::fprintf(out, "\n");
  }

  void usage(std::FILE* out) const {
    std::fprintf(out, "usage: %.*s [options]\n%.*s\n\noptions:\n", int(program_.size()),
                 program_.data(), int(summary_.size()), summary_.data());
    for (const auto& s : specs_) {
      std::fprintf(out, "  --%-16.*s %.*s (default %.15g, %s %.15g..%.15g)\n", int(s.name.size()),
                   s.name.data(), int(s.help.size()), s.help.data(), *s.target,
                   s.integral ? "whole number" : "range", s.min, s.max);
    }
    std::fprintf(out, "  --%-16s %s\n", "dry-run",
                 "check the options, print them and exit without running");
    std::fprintf(out, "  --%-16s %s\n", "help", "print this help and exit");
    if (!epilog_.empty()) std::fprintf(out, "\n%.*s\n", int(epilog_.size()), epilog_.data());
  }

 private:
  const option_spec* find(std::string_view name) const {
    for (const auto& s : specs_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }

  outcome fail(const std::string& why) const {
    std::fprintf(stderr, "%.*s: %s (see %.*s --help)\n", int(program_.size()), program_.data(),
                 why.c_str(), int(program_.size()), program_.data());
    return outcome::error;
  }

  std::string_view program_;
  std::string_view summary_;
  std::string_view epilog_;
  bool dry_run_ = false;
  std::vector<option_spec> specs_;
};

}  // namespace example

#endif
