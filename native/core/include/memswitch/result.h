// Errors cross the core API as values: the fast path never throws, and the binding
// turns Errc into a JS Error whose .code the orchestrator maps to a domain error.
#pragma once
#include <string>
#include <utility>
#include <variant>

namespace memswitch {

enum class Errc {
  kInvalidArgument,   // EINVAL
  kNotFound,          // ENOENT
  kAlreadyExists,     // EEXIST
  kResourceExhausted, // ENOSPC
  kIo,                // EIO: a syscall failed
  kProtocol,          // EPROTO: a memif peer broke the protocol
  kTimeout,           // ETIMEDOUT
  kBusy,              // EBUSY: an object is still in use
  kUnavailable,       // EAGAIN: refused for now (a planned restart is under way); retry
};

const char* errc_code(Errc e);  // "EINVAL", "ENOENT", ...

struct Error {
  Errc code;
  std::string message;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error e) : v_(std::move(e)) {}
  explicit operator bool() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : err_(std::move(e)), ok_(false) {}
  static Status ok() { return {}; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_{Errc::kIo, {}};
  bool ok_ = true;
};

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }
Error errno_error(const std::string& what);  // kIo with strerror(errno) appended

}  // namespace memswitch
