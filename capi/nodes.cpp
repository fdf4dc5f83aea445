// Nodes: listening, connecting, the list of peers, remote spawn and lookup.
// Sends, links, monitors, kill and timers route to other nodes inside the
// core (Runtime::send, core/links.cpp) and their own C functions.
#include <cstring>
#include <string>
#include <vector>

#include "capi/capi.hpp"
#include "core/entry_registry.hpp"
#include "core/node/node.hpp"
#include "core/node/wire.hpp"

using namespace lunatic;
using namespace lunatic::capi;

namespace {

// How long a process waits for another node's answer to a spawn or lookup. A
// node found lost ends the wait sooner (its peer timeout is at most a few s).
constexpr int64_t kRequestTimeoutNs = int64_t(10) * 1000 * 1000 * 1000;

core::node::Node *node_of(lunatic_runtime *runtime, const char *what, int *code) {
    if (!runtime) {
        *code = fail(LUNATIC_EINVAL, "%s: runtime is NULL", what);
        return nullptr;
    }
    core::node::Node *n = to_core(runtime)->node();
    if (!n)
        *code =
            fail(LUNATIC_ESTATE, "%s: this runtime is not a node (call lunatic_node_start)", what);
    return n;
}

// Whether an attribute "key=value" matches a query term "key=value" or "key".
bool term_matches(const std::string &attribute, const std::string &term) {
    if (term.find('=') != std::string::npos) return attribute == term;
    return attribute.compare(0, term.size(), term) == 0 &&
           (attribute.size() == term.size() || attribute[term.size()] == '=');
}

int reply_code(const char *what, Status s, const core::node::Reply &reply, uint64_t node) {
    switch (s) {
    case Status::ok:
        break;
    case Status::no_node:
        return fail(LUNATIC_ENONODE, "%s: not connected to node %llx", what,
                    (unsigned long long)node);
    case Status::timed_out:
        return fail(LUNATIC_ETIMEDOUT, "%s: node %llx did not answer in time", what,
                    (unsigned long long)node);
    case Status::killed:
        return fail(LUNATIC_EKILLED, "%s: the calling process was killed", what);
    default:
        return status(s, what);
    }
    if (reply.status == Status::ok) return LUNATIC_OK;
    if (!reply.detail.empty()) return fail(int(reply.status), "%s: %s", what, reply.detail.c_str());
    return status(reply.status, what);
}

}  // namespace

extern "C" {

LUNATIC_API void lunatic_node_options_init(lunatic_node_options *options) {
    if (!options) return;
    std::memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
}

LUNATIC_API int lunatic_node_start(lunatic_runtime *runtime, const lunatic_node_options *options,
                                   uint16_t *out_port) {
    return guarded("lunatic_node_start", [&] {
        const char *what = "lunatic_node_start";
        if (!runtime || !options)
            return fail(LUNATIC_EINVAL, "%s: runtime or options is NULL", what);
        if (options->struct_size <
                offsetof(lunatic_node_options, attribute_count) + sizeof(size_t) ||
            options->struct_size > sizeof(lunatic_node_options) * 4)
            return fail(LUNATIC_EINVAL,
                        "%s: options->struct_size %u is not valid (call lunatic_node_options_init "
                        "first)",
                        what, options->struct_size);
        lunatic_node_options o;
        lunatic_node_options_init(&o);
        std::memcpy(&o, options, std::min<size_t>(options->struct_size, sizeof o));
        if (!o.name || !*o.name || std::strlen(o.name) > 255)
            return fail(LUNATIC_EINVAL, "%s: name must be 1 to 255 bytes", what);
        if (!o.cookie || !*o.cookie)
            return fail(LUNATIC_EINVAL, "%s: cookie is NULL or empty", what);
        if (o.max_frame_bytes && o.max_frame_bytes < core::node::kMinMaxFrame)
            return fail(LUNATIC_EINVAL, "%s: max_frame_bytes %u is under the minimum of %u", what,
                        o.max_frame_bytes, core::node::kMinMaxFrame);
        const uint32_t heartbeat = o.heartbeat_ms ? o.heartbeat_ms : 1000;
        const uint32_t timeout = o.peer_timeout_ms ? o.peer_timeout_ms : 4000;
        if (timeout <= 2 * uint64_t(heartbeat))
            return fail(LUNATIC_EINVAL,
                        "%s: peer_timeout_ms (%u) must be more than twice heartbeat_ms (%u)", what,
                        timeout, heartbeat);
        if (o.attribute_count && !o.attributes)
            return fail(LUNATIC_EINVAL, "%s: attributes is NULL", what);
        core::node::NodeOptions n;
        n.name = o.name;
        n.cookie = o.cookie;
        if (o.listen_host) n.listen_host = o.listen_host;
        n.listen_port = o.listen_port;
        n.max_frame_bytes = o.max_frame_bytes;
        n.heartbeat_ms = heartbeat;
        n.peer_timeout_ms = timeout;
        n.reconnect_max_ms = o.reconnect_max_ms;
        for (size_t i = 0; i < o.attribute_count; ++i) {
            if (!o.attributes[i] || !*o.attributes[i] || std::strlen(o.attributes[i]) > 4096)
                return fail(LUNATIC_EINVAL, "%s: attribute %zu is NULL, empty or too long", what,
                            i);
            n.attributes.emplace_back(o.attributes[i]);
        }
        core::Runtime *rt = to_core(runtime);
        if (rt->stopping()) return fail(LUNATIC_ESTATE, "%s: the runtime is stopping", what);
        if (rt->node()) return fail(LUNATIC_EEXIST, "%s: this runtime is a node already", what);
        auto node = std::make_unique<core::node::Node>(*rt, std::move(n));
        std::string error;
        uint16_t port = 0;
        Status s = node->listen(&port, &error);
        if (s != Status::ok) return fail(int(s), "%s: %s", what, error.c_str());
        if (rt->install_node(std::move(node)) != Status::ok)
            return fail(LUNATIC_EEXIST, "%s: this runtime is a node already", what);
        if (out_port) *out_port = port;
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_node_connect(lunatic_runtime *runtime, const char *host, uint16_t port,
                                     int64_t timeout_ns, uint64_t *out_node_id) {
    return guarded("lunatic_node_connect", [&] {
        int code;
        core::node::Node *n = node_of(runtime, "lunatic_node_connect", &code);
        if (!n) return code;
        if (!host || !*host || port == 0)
            return fail(LUNATIC_EINVAL, "lunatic_node_connect: host is empty or port is 0");
        if (timeout_ns < 0 && timeout_ns != LUNATIC_INFINITE)
            return fail(LUNATIC_EINVAL, "lunatic_node_connect: negative timeout");
        std::string error;
        Status s = n->connect(host, port, timeout_ns, out_node_id, &error);
        if (s != Status::ok) return fail(int(s), "lunatic_node_connect: %s", error.c_str());
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_nodes(lunatic_runtime *runtime, lunatic_node_info *out, size_t capacity,
                              size_t *out_count) {
    return guarded("lunatic_nodes", [&] {
        int code;
        core::node::Node *n = node_of(runtime, "lunatic_nodes", &code);
        if (!n) return code;
        if ((!out && capacity) || !out_count)
            return fail(LUNATIC_EINVAL, "lunatic_nodes: out or out_count is NULL");
        auto nodes = n->nodes();
        for (size_t i = 0; i < nodes.size() && i < capacity; ++i) {
            lunatic_node_info &info = out[i];
            std::memset(&info, 0, sizeof info);
            info.id = nodes[i].id;
            std::strncpy(info.name, nodes[i].name.c_str(), sizeof info.name - 1);
            std::strncpy(info.address, nodes[i].address.c_str(), sizeof info.address - 1);
        }
        *out_count = nodes.size();
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_node_attributes(lunatic_runtime *runtime, uint64_t node, char *buf,
                                        size_t capacity, size_t *out_len) {
    return guarded("lunatic_node_attributes", [&] {
        int code;
        core::node::Node *n = node_of(runtime, "lunatic_node_attributes", &code);
        if (!n) return code;
        if ((!buf && capacity) || !out_len)
            return fail(LUNATIC_EINVAL, "lunatic_node_attributes: buf or out_len is NULL");
        for (const auto &info : n->nodes()) {
            if (info.id != node) continue;
            std::string all;
            for (const auto &a : info.attributes) {
                all += a;
                all.push_back('\0');
            }
            std::memcpy(buf, all.data(), std::min(capacity, all.size()));
            *out_len = all.size();
            return LUNATIC_OK;
        }
        return fail(LUNATIC_ENONODE, "lunatic_node_attributes: not connected to node %llx",
                    (unsigned long long)node);
    });
}

LUNATIC_API int lunatic_lookup_nodes(lunatic_runtime *runtime, const char *query, uint64_t *out,
                                     size_t capacity, size_t *out_count) {
    return guarded("lunatic_lookup_nodes", [&] {
        int code;
        core::node::Node *n = node_of(runtime, "lunatic_lookup_nodes", &code);
        if (!n) return code;
        if (!query || (!out && capacity) || !out_count)
            return fail(LUNATIC_EINVAL, "lunatic_lookup_nodes: query, out or out_count is NULL");
        std::vector<std::string> terms;
        for (std::string q = query;;) {
            const size_t comma = q.find(',');
            std::string term = q.substr(0, comma);
            if (!term.empty()) terms.push_back(term);
            if (comma == std::string::npos) break;
            q.erase(0, comma + 1);
        }
        size_t count = 0;
        for (const auto &info : n->nodes()) {
            bool all = true;
            for (const auto &t : terms) {
                bool any = false;
                for (const auto &a : info.attributes) any = any || term_matches(a, t);
                all = all && any;
            }
            if (!all) continue;
            if (count < capacity) out[count] = info.id;
            ++count;
        }
        *out_count = count;
        return LUNATIC_OK;
    });
}

LUNATIC_API int lunatic_spawn_node(uint64_t node, const char *entry_name, const void *capture,
                                   size_t capture_len, const lunatic_spawn_options *options,
                                   lunatic_pid *out) {
    return guarded("lunatic_spawn_node", [&] {
        const char *what = "lunatic_spawn_node";
        int code;
        core::Process *self = live_self(what, &code);
        if (!self) return code;
        if (!entry_name || !*entry_name)
            return fail(LUNATIC_EINVAL, "%s: entry_name is NULL or empty", what);
        if (!capture && capture_len) return fail(LUNATIC_EINVAL, "%s: capture is NULL", what);
        core::Runtime &rt = self->runtime;
        if (node == rt.node_id())
            return lunatic_spawn_named(entry_name, capture, capture_len, options, out);
        core::node::Node *n = rt.node();
        if (!n || !n->connected(node))
            return fail(LUNATIC_ENONODE, "%s: not connected to node %llx", what,
                        (unsigned long long)node);
        if (self->config && !self->config->can_spawn_processes)
            return fail(LUNATIC_EPERM,
                        "%s: this process may not spawn (its config lacks can_spawn_processes)",
                        what);
        core::node::RemoteSpawn request;
        request.entry = entry_name;
        request.capture = capture;
        request.capture_len = capture_len;
        request.config = self->config;
        SpawnOptions o;
        if (int rc = read_spawn_options(what, options, &o); rc != LUNATIC_OK) return rc;
        request.link = o.link;
        request.link_tag = o.link_tag;
        if (o.config) request.config = snapshot(o.config);
        const size_t stack_size = o.stack_size;
        const bool guard = o.guard_page;
        if (stack_size || guard) {
            // Stack size and guard page travel in the config; without one the
            // child would have every permission and no limit, so the copy does too.
            core::ProcessConfig c;
            if (request.config) {
                c = *request.config;
            } else {
                c.can_spawn_processes = true;
                c.can_create_configs = true;
            }
            if (stack_size) c.stack_size = stack_size;
            if (guard) c.guard_page = true;
            request.config = std::make_shared<const core::ProcessConfig>(c);
        }
        core::node::Reply reply;
        Status s = n->spawn(*self, node, request, kRequestTimeoutNs, &reply);
        if (s == Status::invalid_argument)
            return fail(LUNATIC_EINVAL,
                        "%s: the entry name and config do not fit in one frame (max_frame_bytes)",
                        what);
        int rc = reply_code(what, s, reply, node);
        if (rc == LUNATIC_OK && out) *out = to_c(reply.pid);
        return rc;
    });
}

LUNATIC_API int lunatic_lookup_node(uint64_t node, const char *name, const char *type,
                                    lunatic_pid *out) {
    return guarded("lunatic_lookup_node", [&] {
        const char *what = "lunatic_lookup_node";
        int code;
        core::Process *self = live_self(what, &code);
        if (!self) return code;
        if (node == self->runtime.node_id()) return lunatic_lookup(name, type, out);
        if (!name || !*name) return fail(LUNATIC_EINVAL, "%s: name is NULL or empty", what);
        if (std::strlen(name) > 4096 || (type && std::strlen(type) > 4096))
            return fail(LUNATIC_EINVAL, "%s: name or type longer than 4096 bytes", what);
        if (!out) return fail(LUNATIC_EINVAL, "%s: out is NULL", what);
        core::node::Node *n = self->runtime.node();
        if (!n || !n->connected(node))
            return fail(LUNATIC_ENONODE, "%s: not connected to node %llx", what,
                        (unsigned long long)node);
        core::node::Reply reply;
        Status s = n->lookup(*self, node, name, type ? type : "", kRequestTimeoutNs, &reply);
        if (s == Status::ok && reply.status == Status::not_found)
            return fail(LUNATIC_ENOTFOUND,
                        "%s: nothing is registered as '%s' with type '%s' on node %llx", what, name,
                        type ? type : "", (unsigned long long)node);
        int rc = reply_code(what, s, reply, node);
        if (rc == LUNATIC_OK) *out = to_c(reply.pid);
        return rc;
    });
}

}  // extern "C"
