// lunatic::Tag: a label on messages for selective receive.
#pragma once

#include <compare>
#include <cstdint>

#include "lunatic/lunatic.h"

namespace lunatic {

class Tag {
public:
    /// No tag (the same as Tag::none()).
    constexpr Tag() noexcept = default;
    /// A tag with a value of your choosing (positive; negative ones are the runtime's).
    constexpr explicit Tag(int64_t id) noexcept : id_(id) {}

    /// A tag no other call in this OS process has been given.
    static Tag fresh() noexcept { return Tag(lunatic_tag_new()); }
    static constexpr Tag none() noexcept { return Tag(); }

    constexpr int64_t id() const noexcept { return id_; }
    constexpr bool is_none() const noexcept { return id_ == 0; }

    friend constexpr bool operator==(Tag, Tag) noexcept = default;
    friend constexpr auto operator<=>(Tag, Tag) noexcept = default;

private:
    int64_t id_ = 0;
};

}  // namespace lunatic
