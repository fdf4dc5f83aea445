// Encoding values into messages and decoding payloads, for one serializer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "lunatic/error.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/serializer.hpp"
#include "lunatic/tag.hpp"

namespace lunatic::detail {

/// A new message holding value encoded with S (the caller owns it).
template <class S, class T>
lunatic_message *encode_message(Tag tag, const T &value) {
    static_assert(SerializerFor<S, T>,
                  "this serializer cannot encode this type: declare a struct's "
                  "fields with LUNATIC_FIELDS, or use a type the serializer supports");
    lunatic_message *message = nullptr;
    check(lunatic_message_new(tag.id(), 0, &message));
    try {
        Writer out(message);
        S::encode(out, value);
    } catch (...) {
        lunatic_message_free(message);
        throw;
    }
    return message;
}

/// Decodes exactly one T from the bytes; DeserializationError otherwise.
template <class S, class T>
void decode_payload(const uint8_t *data, std::size_t size, T &value) {
    static_assert(SerializerFor<S, T>, "this serializer cannot decode this type");
    Reader in(data, size);
    try {
        S::decode(in, value);
    } catch (const Error &) {
        throw;
    } catch (const std::exception &e) {
        throw DeserializationError(e.what());
    }
    if (!in.at_end())
        throw DeserializationError(std::to_string(in.remaining()) +
                                   " trailing bytes after the value");
}

}  // namespace lunatic::detail
