#include "stats/pcapng.h"

#include <cstring>

namespace memswitch::detail::pcapng {

namespace {
template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void pad4(std::string& out) { out.append((4 - out.size() % 4) % 4, '\0'); }
void option(std::string& out, uint16_t code, const void* value, uint16_t len) {
  put(out, code);
  put(out, len);
  out.append(static_cast<const char*>(value), len);
  pad4(out);
}
void end_of_options(std::string& out) { put<uint32_t>(out, 0); }
// A block is type, total length, body, total length again; `start` is where it began.
void begin(std::string& out, uint32_t type) {
  put(out, type);
  put<uint32_t>(out, 0);  // patched by finish()
}
void finish(std::string& out, size_t start) {
  const uint32_t total = uint32_t(out.size() - start + 4);
  std::memcpy(&out[start + 4], &total, 4);
  put(out, total);
}
}  // namespace

void section_header(std::string& out, const std::string& app) {
  const size_t start = out.size();
  begin(out, 0x0A0D0D0A);
  put<uint32_t>(out, 0x1A2B3C4D);  // byte-order magic
  put<uint16_t>(out, 1);
  put<uint16_t>(out, 0);
  put<int64_t>(out, -1);  // section length: not known (a stream)
  option(out, 4, app.data(), uint16_t(app.size()));  // shb_userappl
  end_of_options(out);
  finish(out, start);
}

void interface_description(std::string& out, uint16_t linktype, uint32_t snaplen, const std::string& name) {
  const size_t start = out.size();
  begin(out, 1);
  put(out, linktype);
  put<uint16_t>(out, 0);
  put(out, snaplen);
  option(out, 2, name.data(), uint16_t(name.size()));  // if_name
  const uint8_t nanoseconds = 9;
  option(out, 9, &nanoseconds, 1);  // if_tsresol
  end_of_options(out);
  finish(out, start);
}

void enhanced_packet(std::string& out, uint32_t interface, uint64_t ts_ns, const uint8_t* data, uint32_t cap_len, uint32_t wire_len, uint32_t flags, const std::string& comment) {
  const size_t start = out.size();
  begin(out, 6);
  put(out, interface);
  put<uint32_t>(out, uint32_t(ts_ns >> 32));
  put<uint32_t>(out, uint32_t(ts_ns));
  put(out, cap_len);
  put(out, wire_len);
  out.append(reinterpret_cast<const char*>(data), cap_len);
  pad4(out);
  if (!comment.empty()) option(out, 1, comment.data(), uint16_t(comment.size()));  // opt_comment
  option(out, 2, &flags, 4);  // epb_flags
  end_of_options(out);
  finish(out, start);
}

}  // namespace memswitch::detail::pcapng
