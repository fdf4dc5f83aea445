// Messages: build, read, free.
#include "capi/capi.hpp"

using namespace lunatic;
using namespace lunatic::capi;

namespace {
// A message handle the caller may use: not NULL and not already freed.
bool usable(const lunatic_message *m, const char *what, int *code) {
    if (!m) {
        *code = fail(LUNATIC_EINVAL, "%s: message is NULL", what);
        return false;
    }
    if (!to_core(m)->is_live()) {
        *code = fail(LUNATIC_EINVAL, "%s: message was already freed or sent", what);
        return false;
    }
    return true;
}
}  // namespace

extern "C" {

LUNATIC_API int lunatic_message_new(lunatic_tag tag, size_t reserve, lunatic_message **out) {
    if (!out) return fail(LUNATIC_EINVAL, "lunatic_message_new: out is NULL");
    *out = nullptr;
    core::Message *m = core::Message::create(tag, reserve);
    if (!m) return fail(LUNATIC_ENOMEM, "lunatic_message_new: cannot allocate %zu bytes", reserve);
    *out = to_c(m);
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_message_append(lunatic_message *message, const void *data, size_t len) {
    int code;
    if (!usable(message, "lunatic_message_append", &code)) return code;
    if (!data && len) return fail(LUNATIC_EINVAL, "lunatic_message_append: data is NULL");
    if (!to_core(message)->append(data, len))
        return fail(LUNATIC_ENOMEM, "lunatic_message_append: cannot grow by %zu bytes", len);
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_message_extend(lunatic_message *message, size_t len, uint8_t **out) {
    int code;
    if (!usable(message, "lunatic_message_extend", &code)) return code;
    if (!out) return fail(LUNATIC_EINVAL, "lunatic_message_extend: out is NULL");
    uint8_t *at = to_core(message)->extend(len);
    if (!at) return fail(LUNATIC_ENOMEM, "lunatic_message_extend: cannot grow by %zu bytes", len);
    *out = at;
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_message_truncate(lunatic_message *message, size_t len) {
    int code;
    if (!usable(message, "lunatic_message_truncate", &code)) return code;
    if (len > to_core(message)->size())
        return fail(LUNATIC_EINVAL, "lunatic_message_truncate: %zu is more than the size %zu", len,
                    to_core(message)->size());
    to_core(message)->truncate(len);
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_message_set_tag(lunatic_message *message, lunatic_tag tag) {
    int code;
    if (!usable(message, "lunatic_message_set_tag", &code)) return code;
    to_core(message)->set_tag(tag);
    return LUNATIC_OK;
}

LUNATIC_API lunatic_message_kind lunatic_message_kind_of(const lunatic_message *message) {
    if (!message || !to_core(message)->is_live()) return LUNATIC_MESSAGE_DATA;
    return static_cast<lunatic_message_kind>(to_core(message)->kind());
}

LUNATIC_API lunatic_tag lunatic_message_tag(const lunatic_message *message) {
    if (!message || !to_core(message)->is_live()) return 0;
    return to_core(message)->tag();
}

LUNATIC_API const uint8_t *lunatic_message_data(const lunatic_message *message) {
    if (!message || !to_core(message)->is_live()) return nullptr;
    return to_core(message)->data();
}

LUNATIC_API size_t lunatic_message_size(const lunatic_message *message) {
    if (!message || !to_core(message)->is_live()) return 0;
    return to_core(message)->size();
}

LUNATIC_API int lunatic_message_sender(const lunatic_message *message, lunatic_pid *out) {
    int code;
    if (!usable(message, "lunatic_message_sender", &code)) return code;
    if (!out) return fail(LUNATIC_EINVAL, "lunatic_message_sender: out is NULL");
    *out = to_c(to_core(message)->sender());
    return LUNATIC_OK;
}

LUNATIC_API int lunatic_message_signal(const lunatic_message *message, lunatic_pid *out_pid,
                                       lunatic_exit_reason *out_reason) {
    int code;
    if (!usable(message, "lunatic_message_signal", &code)) return code;
    const core::Message *m = to_core(message);
    if (!m->is_signal())
        return fail(LUNATIC_EINVAL, "lunatic_message_signal: a data message is not a signal");
    if (out_pid) *out_pid = to_c(m->signal_pid());
    if (out_reason) *out_reason = static_cast<lunatic_exit_reason>(m->reason());
    return LUNATIC_OK;
}

LUNATIC_API void lunatic_message_free(lunatic_message *message) {
    if (!message) return;
    if (!core::Message::destroy(to_core(message)))
        fail(LUNATIC_EINVAL, "lunatic_message_free: message was already freed");
}

}  // extern "C"
