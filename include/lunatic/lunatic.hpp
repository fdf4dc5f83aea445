// <lunatic/lunatic.hpp>: the typed C++ layer of liblunatic.
//
// Header-only templates over the C ABI (lunatic.h): a C++ program includes
// this and links liblunatic.so. The MessagePack and Json serializers live in
// <lunatic/msgpack.hpp> and <lunatic/json.hpp> (they need msgpack-cxx and
// nlohmann_json); Bincode, the default, needs nothing else.
//
//     auto child = lunatic::Process<int>::spawn(1, [](int capture, lunatic::Mailbox<int> mailbox) {
//         assert(capture == 1);
//         assert(mailbox.receive() == 2);
//     });
//     child.send(2);
//
// Session-typed protocols (Protocol<P, S>, Send, Recv, Choose, Offer, Rec, Loop,
// End, Dual) are in <lunatic/protocol.hpp>, included here; request/reply in
// <lunatic/request.hpp>, servers (AbstractProcess, ProcessRef) in
// <lunatic/abstract_process.hpp>, supervisors in <lunatic/supervisor.hpp>.
#pragma once

#include "lunatic/lunatic.h"

#include "lunatic/abstract_process.hpp"
#include "lunatic/bincode.hpp"
#include "lunatic/error.hpp"
#include "lunatic/mailbox.hpp"
#include "lunatic/mailbox_result.hpp"
#include "lunatic/node.hpp"
#include "lunatic/process.hpp"
#include "lunatic/process_config.hpp"
#include "lunatic/process_local.hpp"
#include "lunatic/protocol.hpp"
#include "lunatic/request.hpp"
#include "lunatic/runtime.hpp"
#include "lunatic/serializer.hpp"
#include "lunatic/spawn.hpp"
#include "lunatic/supervisor.hpp"
#include "lunatic/tag.hpp"
#include "lunatic/this_process.hpp"
#include "lunatic/timer.hpp"
#include "lunatic/type_name.hpp"
