#include "memif/session.h"

#include <unistd.h>

namespace memswitch::detail {

Session::~Session() {
  for (int fd : eventfds) close(fd);
}

}  // namespace memswitch::detail
