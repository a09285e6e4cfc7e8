// Status: the error type of the irnn runtime. Every fallible runtime call returns one; the runtime
// never aborts or exits on bad input. A message follows the form
// "<object>: <field> is <value> but must be <rule>". This is not an exception type: the runtime can be
// built with -fno-exceptions.
#pragma once

#include <string>
#include <utility>

namespace irnn {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument = 1,  // a caller-supplied value breaks a documented rule
  kOutOfRange = 2,       // a size or value exceeds a supported limit
  kUnavailable = 3,      // a requested code path (for example AVX2) is not available here
  kDataLoss = 4,         // a file or buffer is truncated or malformed
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Returns early from the enclosing function when `expr` is not ok.
#define IRNN_RETURN_IF_ERROR(expr)            \
  do {                                        \
    ::irnn::Status irnn_status_ = (expr);     \
    if (!irnn_status_.ok()) return irnn_status_; \
  } while (0)

}  // namespace irnn
