// A progress line for long commands: done/total, rate (tokens/s), elapsed and ETA, plus free-form
// metrics. On a terminal it redraws one line; otherwise (CI, logs) it prints a line every ~10 %.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace irnn::train {

class Progress {
 public:
  Progress(std::string label, int64_t total, const char* unit = "tok")
      : label_(std::move(label)), total_(total), unit_(unit), tty_(isatty(fileno(stderr)) != 0),
        start_(std::chrono::steady_clock::now()) {}

  // Reports that `done` of `total` are finished; `extra` is appended (e.g. "loss 5.12").
  void Update(int64_t done, const std::string& extra = "") {
    const double elapsed = Seconds();
    const int decile = total_ > 0 ? static_cast<int>(10 * done / total_) : 0;
    if (!tty_ && decile == last_decile_ && done < total_) return;
    if (tty_ && elapsed - last_draw_ < 0.2 && done < total_) return;
    last_decile_ = decile;
    last_draw_ = elapsed;
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0;
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "%s%s [%s] %3d%% %.0f %s/s elapsed %s eta %s %s%s", tty_ ? "\r" : "", label_.c_str(),
                 bar.c_str(), total_ > 0 ? static_cast<int>(100 * done / total_) : 0, rate, unit_,
                 Clock(elapsed).c_str(), Clock(eta).c_str(), extra.c_str(), tty_ ? "\033[K" : "\n");
    if (tty_ && done >= total_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  static std::string Clock(double s) {
    char buf[32];
    const long t = static_cast<long>(s + 0.5);
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
  }

  std::string label_;
  int64_t total_;
  const char* unit_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  int last_decile_ = -1;
  double last_draw_ = -1;
};

}  // namespace irnn::train
