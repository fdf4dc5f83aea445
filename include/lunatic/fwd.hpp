// Forward declarations of the typed layer's templates.
#pragma once

namespace lunatic {

struct Bincode;
template <class M, class S = Bincode>
class Process;
template <class M, class S = Bincode>
class Mailbox;
template <class M>
class MailboxResult;

}  // namespace lunatic
