// `irnn pwl`: see pwl_cmd.h.

#include "pwl_cmd.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "pwl/pwl_fit.h"

namespace irnn::cli {
namespace {

// Parses "2^-12", "1/4096" or a decimal number; false when malformed or not finite and > 0.
bool ParseScale(const std::string& text, double* value) {
  char* end = nullptr;
  const char* s = text.c_str();
  double v = 0;
  if (text.rfind("2^", 0) == 0) {
    const long e = std::strtol(s + 2, &end, 10);
    if (end == s + 2 || *end != '\0' || e < -60 || e > 60) return false;
    v = std::ldexp(1.0, static_cast<int>(e));
  } else if (text.rfind("1/", 0) == 0) {
    const double d = std::strtod(s + 2, &end);
    if (end == s + 2 || *end != '\0' || !(d > 0)) return false;
    v = 1.0 / d;
  } else {
    v = std::strtod(s, &end);
    if (end == s || *end != '\0') return false;
  }
  if (!(v > 0) || !std::isfinite(v)) return false;
  *value = v;
  return true;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "irnn pwl: error: %s\n", message.c_str());
  return 1;
}

std::string JsonNumber(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

template <typename T>
std::string JsonArray(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// Draws the function, the approximation, the knots and the error with gnuplot.
int Plot(const PwlOptions& o, const RealFunction& f, const PwlGrid& in, const PwlGrid& out, const PwlFitResult& r) {
  const std::string base = o.plot + ".tmp";
  {
    std::ofstream data(base + ".dat"), knots(base + ".knots");
    if (!data || !knots) return Fail("cannot write temporary files next to " + o.plot);
    const int64_t n = int64_t{in.max} - in.min + 1;
    const int64_t step = std::max<int64_t>(1, n / 4000);
    for (int64_t q = in.min; q <= in.max; q += step) {
      const double x = in.scale * (q - in.zero_point);
      const double target = std::min<double>(std::max<double>(f(x) / out.scale + out.zero_point, out.min), out.max);
      const int32_t y = PwlEvaluate(r.table, static_cast<int32_t>(q));
      data << x << ' ' << out.scale * (target - out.zero_point) << ' ' << out.scale * (y - out.zero_point) << ' '
           << (y - target) << '\n';
    }
    for (int32_t k : r.table.knot) {
      const int32_t y = PwlEvaluate(r.table, k);
      knots << in.scale * (k - in.zero_point) << ' ' << out.scale * (y - out.zero_point) << '\n';
    }
  }
  const std::string script = base + ".gp";
  {
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 1000,800 noenhanced\nset output '" << o.plot << "'\n"
       << "set multiplot layout 2,1 title '" << o.fn << ": " << r.pieces << " pieces, max error "
       << JsonNumber(r.max_error_lsb) << " LSB, mean " << JsonNumber(r.mean_error_lsb) << " LSB (" << o.fitter
       << ")'\nset grid\nset key top left\nset xlabel 'x'\nset ylabel 'y'\n"
       << "plot '" << base << ".dat' using 1:2 with lines lw 2 title 'function', '" << base
       << ".dat' using 1:3 with lines title 'PWL (integer)', '" << base
       << ".knots' using 1:2 with points pt 7 ps 0.6 title 'knots'\n"
       << "set ylabel 'error (output LSB)'\nplot '" << base
       << ".dat' using 1:4 with lines title 'PWL - function'\nunset multiplot\n";
  }
  const std::string cmd = "gnuplot '" + script + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::remove((base + ".dat").c_str());
  std::remove((base + ".knots").c_str());
  std::remove(script.c_str());
  if (rc != 0) return Fail("gnuplot failed (is it installed? apt-get install gnuplot-nox); no plot written");
  return 0;
}

}  // namespace

CLI::App* AddPwlCommand(CLI::App* app, PwlOptions* o) {
  CLI::App* cmd = app->add_subcommand(
      "pwl", "Fit a quantization-aware piecewise-linear approximation of a function on integer grids");
  cmd->add_option("--fn", o->fn, std::string("Function: ") + BuiltinPwlFunctionNames())->capture_default_str();
  cmd->add_option("--in-bits", o->in_bits, "Input integer width (2..16)")->capture_default_str();
  cmd->add_option("--in-scale", o->in_scale, "Input scale: 2^-12, 1/4096 or 0.000244")->capture_default_str();
  cmd->add_option("--in-zero-point", o->in_zero_point, "Input zero point")->capture_default_str();
  cmd->add_option("--in-min", o->in_min, "Smallest input integer (default: the type's, or the function's domain)")
      ->each([o](const std::string&) { o->in_min_given = true; });
  cmd->add_option("--in-max", o->in_max, "Largest input integer")->each([o](const std::string&) {
    o->in_max_given = true;
  });
  cmd->add_option("--out-bits", o->out_bits, "Output integer width (2..16)")->capture_default_str();
  cmd->add_option("--out-scale", o->out_scale, "Output scale (default: fits the function's range)");
  cmd->add_option("--out-zero-point", o->out_zero_point, "Output zero point")->each([o](const std::string&) {
    o->out_zero_point_given = true;
  });
  cmd->add_option("--max-err", o->max_err, "Tolerance: max error in output LSBs");
  cmd->add_option("--budget", o->budget, "Piece budget: the least max error within this many pieces");
  cmd->add_option("--fitter", o->fitter, "greedy (iRNN recursive knot insertion) or optimal (fewest pieces)")
      ->capture_default_str();
  cmd->add_flag("--odd", o->odd, "Odd symmetry about the input zero point (tanh): fit one half, mirror it");
  cmd->add_flag("--no-monotone", o->no_monotone, "Do not force a monotone table for a monotone function");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->add_option("--plot", o->plot, "Draw function, approximation, knots and error to this PNG (gnuplot)");
  return cmd;
}

int RunPwl(const PwlOptions& o) {
  RealFunction f;
  if (!BuiltinPwlFunction(o.fn, &f)) {
    return Fail("--fn is '" + o.fn + "' but must be one of " + BuiltinPwlFunctionNames());
  }
  if (o.in_bits < 2 || o.in_bits > 16) return Fail("--in-bits is " + std::to_string(o.in_bits) + " but must be in [2, 16]");
  if (o.out_bits < 2 || o.out_bits > 16) {
    return Fail("--out-bits is " + std::to_string(o.out_bits) + " but must be in [2, 16]");
  }
  PwlGrid in;
  if (!ParseScale(o.in_scale, &in.scale)) return Fail("--in-scale '" + o.in_scale + "' is not a positive number");
  in.zero_point = o.in_zero_point;
  in.min = -(1 << (o.in_bits - 1));
  in.max = (1 << (o.in_bits - 1)) - 1;
  if (o.in_zero_point < in.min || o.in_zero_point > in.max) {
    return Fail("--in-zero-point is " + std::to_string(o.in_zero_point) + " but must be within the input type");
  }
  // Natural domains: exp on x <= 0, reciprocal on [1, 2), rsqrt on [1, 4) (range-reduced arguments).
  auto grid_of = [&](double x) { return in.zero_point + std::llround(x / in.scale); };
  if (o.fn == "exp") in.max = static_cast<int32_t>(std::min<int64_t>(in.max, in.zero_point));
  if (o.fn == "reciprocal" || o.fn == "rsqrt") {
    in.min = static_cast<int32_t>(std::max<int64_t>(in.min, grid_of(1.0)));
    in.max = static_cast<int32_t>(std::min<int64_t>(in.max, grid_of(o.fn == "reciprocal" ? 2.0 : 4.0) - 1));
  }
  if (o.in_min_given) in.min = static_cast<int32_t>(std::max<int64_t>(o.in_min, -(int64_t{1} << (o.in_bits - 1))));
  if (o.in_max_given) in.max = static_cast<int32_t>(std::min<int64_t>(o.in_max, (int64_t{1} << (o.in_bits - 1)) - 1));
  if (in.min > in.max) {
    return Fail("the input range [" + std::to_string(in.min) + ", " + std::to_string(in.max) + "] is empty");
  }

  PwlGrid out;
  out.min = -(1 << (o.out_bits - 1));
  out.max = (1 << (o.out_bits - 1)) - 1;
  const bool unit_range = o.fn == "sigmoid" || o.fn == "exp" || o.fn == "reciprocal" || o.fn == "rsqrt";
  if (!o.out_scale.empty()) {
    if (!ParseScale(o.out_scale, &out.scale)) return Fail("--out-scale '" + o.out_scale + "' is not a positive number");
  } else if (unit_range) {
    out.scale = std::ldexp(1.0, -o.out_bits);  // [0, 1) over the whole type
  } else if (o.fn == "tanh") {
    out.scale = std::ldexp(1.0, 1 - o.out_bits);  // [-1, 1)
  } else {
    out.scale = in.scale * std::ldexp(1.0, o.in_bits - o.out_bits);  // same real range as the input
  }
  out.zero_point = o.out_zero_point_given ? o.out_zero_point : (unit_range && o.out_scale.empty() ? out.min : 0);
  // An odd table mirrors its outputs about the zero point: use the range symmetric about it.
  if (o.odd && out.zero_point == 0) out.min = -out.max;

  PwlFitOptions opt;
  if (o.fitter == "greedy") opt.fitter = PwlFitter::kGreedy;
  else if (o.fitter == "optimal") opt.fitter = PwlFitter::kOptimal;
  else return Fail("--fitter is '" + o.fitter + "' but must be greedy or optimal");
  if (o.max_err < 0) return Fail("--max-err must be > 0");
  if (o.budget < 0 || o.budget > kMaxPwlPieces) {
    return Fail("--budget is " + std::to_string(o.budget) + " but must be in [1, " + std::to_string(kMaxPwlPieces) + "]");
  }
  opt.max_error_lsb = o.max_err;
  opt.max_pieces = o.budget;
  if (o.max_err == 0 && o.budget == 0) opt.max_error_lsb = 1.0;
  opt.odd = o.odd;
  opt.keep_monotone = !o.no_monotone;

  PwlFitResult r;
  const Status s = FitPwl(f, in, out, opt, &r);
  if (!s.ok()) return Fail(s.message());

  if (o.json) {
    std::printf("{\"fn\": \"%s\", \"fitter\": \"%s\", \"pieces\": %d, \"max_err_lsb\": %s, \"mean_err_lsb\": %s, "
                "\"tolerance\": %s, \"tolerance_met\": %s, \"budget\": %d, \"monotone\": %d, \"odd\": %s, "
                "\"input\": {\"min\": %d, \"max\": %d, \"scale\": %s, \"zero_point\": %d}, "
                "\"output\": {\"min\": %d, \"max\": %d, \"scale\": %s, \"zero_point\": %d}, \"shift\": %d, "
                "\"knots\": %s, \"slopes\": %s, \"intercepts\": %s}\n",
                o.fn.c_str(), o.fitter.c_str(), r.pieces, JsonNumber(r.max_error_lsb).c_str(),
                JsonNumber(r.mean_error_lsb).c_str(), JsonNumber(opt.max_error_lsb).c_str(),
                r.tolerance_met ? "true" : "false", o.budget, r.monotone, o.odd ? "true" : "false", in.min, in.max,
                JsonNumber(in.scale).c_str(), in.zero_point, out.min, out.max, JsonNumber(out.scale).c_str(),
                out.zero_point, r.table.shift, JsonArray(r.table.knot).c_str(), JsonArray(r.table.slope).c_str(),
                JsonArray(r.table.intercept).c_str());
  } else {
    std::printf("%s on input [%d, %d] x %g (zp %d) -> output [%d, %d] x %g (zp %d), %s fitter\n", o.fn.c_str(),
                in.min, in.max, in.scale, in.zero_point, out.min, out.max, out.scale, out.zero_point, o.fitter.c_str());
    std::printf("pieces %d, max error %.4f LSB, mean error %.4f LSB%s, slope shift %d%s\n", r.pieces,
                r.max_error_lsb, r.mean_error_lsb,
                opt.max_error_lsb > 0 ? (r.tolerance_met ? " (tolerance met)" : " (tolerance NOT met)") : "",
                r.table.shift, r.table.odd ? ", odd-symmetric" : "");
    std::printf("%6s %8s %12s %12s %10s\n", "piece", "knot", "x", "slope", "intercept");
    for (size_t i = 0; i < r.table.knot.size(); ++i) {
      std::printf("%6zu %8d %12.6g %12d %10d\n", i, r.table.knot[i], in.scale * (r.table.knot[i] - in.zero_point),
                  r.table.slope[i], r.table.intercept[i]);
    }
  }
  if (!o.plot.empty()) {
    const int rc = Plot(o, f, in, out, r);
    if (rc != 0) return rc;
    if (!o.json) std::printf("plot written to %s\n", o.plot.c_str());
  }
  return r.tolerance_met || opt.max_error_lsb <= 0 || o.budget > 0 ? 0 : 1;
}

}  // namespace irnn::cli
