// A tiny command-line parser for the examples: --name value / --name=value, --help.
// Bad options print a clear message; callers exit with code 2.
#ifndef STREAMISO_EXAMPLES_CLI_HPP
#define STREAMISO_EXAMPLES_CLI_HPP

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace example {

struct option_spec {
  std::string_view name;  // without the leading "--"
  std::string_view help;
  double min;
  double max;
  double* target;
  bool integral;
};

class cli {
 public:
  cli(std::string_view program, std::string_view summary) : program_(program), summary_(summary) {}

  void add(std::string_view name, std::string_view help, double* target, double min, double max,
           bool integral) {
    specs_.push_back(option_spec{name, help, min, max, target, integral});
  }

  enum class outcome { run, help, error };

  // Parses argv. On error prints the reason and the usage to stderr.
  outcome parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        usage(stdout);
        return outcome::help;
      }
      if (arg.substr(0, 2) != "--") return fail("unexpected argument '" + std::string(arg) + "'");
      arg.remove_prefix(2);
      std::string value;
      if (const auto eq = arg.find('='); eq != std::string_view::npos) {
        value = std::string(arg.substr(eq + 1));
        arg = arg.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return fail("option --" + std::string(arg) + " needs a value");
      }
      const option_spec* spec = find(arg);
      if (spec == nullptr) return fail("unknown option --" + std::string(arg));
      if (!assign(*spec, value)) return outcome::error;
    }
    return outcome::run;
  }

  // parse() folded into what main() needs: an exit code when the program should stop now
  // (0 after --help, 2 after a bad option), nothing when it should run.
  std::optional<int> exit_code(int argc, char** argv) {
    switch (parse(argc, argv)) {
      case outcome::help: return 0;
      case outcome::error: return 2;
      case outcome::run: break;
    }
    return std::nullopt;
  }

  void usage(std::FILE* out) const {
    std::fprintf(out, "usage: %.*s [options]\n%.*s\n\noptions:\n", int(program_.size()),
                 program_.data(), int(summary_.size()), summary_.data());
    for (const auto& s : specs_) {
      std::fprintf(out, "  --%-14.*s %.*s (default %g, range %g..%g)\n", int(s.name.size()),
                   s.name.data(), int(s.help.size()), s.help.data(), *s.target, s.min, s.max);
    }
    std::fprintf(out, "  --%-14s %s\n", "help", "print this help and exit");
  }

 private:
  const option_spec* find(std::string_view name) const {
    for (const auto& s : specs_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }

  bool assign(const option_spec& spec, const std::string& text) {
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    const bool parsed = errno == 0 && end != text.c_str() && *end == '\0';
    if (!parsed || v != v) {
      fail("--" + std::string(spec.name) + ": '" + text + "' is not a number");
      return false;
    }
    if (spec.integral && v != static_cast<double>(static_cast<long long>(v))) {
      fail("--" + std::string(spec.name) + ": '" + text + "' is not a whole number");
      return false;
    }
    if (v < spec.min || v > spec.max) {
      fail("--" + std::string(spec.name) + ": " + text + " is outside " + fmt(spec.min) + ".." +
           fmt(spec.max));
      return false;
    }
    *spec.target = v;
    return true;
  }

  static std::string fmt(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }

  outcome fail(const std::string& why) {
    std::fprintf(stderr, "%.*s: %s\n", int(program_.size()), program_.data(), why.c_str());
    usage(stderr);
    return outcome::error;
  }

  std::string_view program_;
  std::string_view summary_;
  std::vector<option_spec> specs_;
};

}  // namespace example

#endif
