// lunatic::Protocol<P, S>: session-typed protocols (lunatic's protocol module).
//
// A protocol P describes a conversation between two processes, step by step,
// from one side's point of view; the compiler checks that the code follows it:
//
//     using AddProtocol = lunatic::Recv<int, lunatic::Recv<int, lunatic::Send<int, lunatic::End>>>;
//     auto child = lunatic::spawn(1, [](int capture, lunatic::Protocol<AddProtocol> protocol) {
//         auto [p1, a] = std::move(protocol).receive();
//         auto [p2, b] = std::move(p1).receive();
//         std::move(p2).send(capture + a + b);
//     });
//     // child is the parent's end, Protocol<Dual<AddProtocol>> = Protocol<Send<int, Send<int,
//     Recv<int, End>>>> auto [end, result] = std::move(child).send(2).send(2).receive();   //
//     result == 5
//
// States
//   Send<T, P>          send a T, then P                        send(value)
//   Recv<T, P>          receive a T, then P                     receive(), receive_timeout(d)
//   Choose<P1, P2, ...> this side picks a branch (at least two)  select<I>(), select_left(),
//   select_right() Offer<P1, P2, ...>  the other side picks                    offer() ->
//   std::variant, offer(visitor),
//                                                               offer_timeout(d)
//   Rec<P>              a loop: P, where Loop jumps back here   (unfolded automatically)
//   Loop (= Var<0>)     back to the innermost enclosing Rec; Var<1> to the Rec around
//                       that one, and so on. Pop is lunatic-rs's name for Loop.
//   End                 the conversation is over
//
// Dual<P> is the other side's protocol (Send <-> Recv, Choose <-> Offer).
//
// Every operation consumes the protocol (call it on std::move(p)) and returns
// the protocol of the next step; misuse (sending the wrong type, receiving
// where the protocol sends, anything after End, selecting where the protocol
// does not choose, ...) does not compile. A Rec is unfolded as soon as it is
// reached, so the protocol after one turn of a loop has the same type as
// before it: a loop can reassign one variable (p = std::move(p3).send(x)).
//
// Dropping a protocol that is not at End (and was not moved from) is a bug
// in the session: a destructor cannot throw, so it records the failure instead
// — lunatic_fail("protocol dropped before End: <state>") — and marks the
// process. A process started by lunatic::spawn… then fails with that message
// when its entry returns (linked processes are told, as for any failure), and
// every later protocol operation in the process throws ProtocolError with the
// same message. A thread attached to a runtime is marked the same way but
// keeps running. A receive on the other end waits for a message that never
// comes: receive_timeout / offer_timeout give up after a while.
//
// Wire format (what another language must do to take part; S encodes every value):
//  - a session is {peer pid, tag}: the tag comes from lunatic_tag_new() and every
//    message of the session carries it; receives take only messages with that tag.
//  - Send<T, P>: one message, the T.
//  - Choose: one message, the branch index as uint32_t (0 = first / left branch).
//  - spawning: the child's capture bytes are the struct ProtocolCapture
//    {process: {node_id: u64, id: u64} (the spawner, the child's peer),
//     tag: i64, capture: C}, encoded with S (for Bincode: 16 + 8 bytes, then C).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "lunatic/detail/codec.hpp"
#include "lunatic/error.hpp"
#include "lunatic/fwd.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/mailbox.hpp"
#include "lunatic/process.hpp"
#include "lunatic/serializer.hpp"
#include "lunatic/tag.hpp"

namespace lunatic {

// ------------------------------------------------------------------ states

/// Send a T, then continue with P.
template <class T, class P>
struct Send {};
/// Receive a T, then continue with P.
template <class T, class P>
struct Recv {};
/// The conversation is over.
struct End {};
/// This side chooses one of the branches (at least two).
template <class... Ps>
struct Choose {};
/// The other side chooses one of the branches (at least two).
template <class... Ps>
struct Offer {};
/// A loop: P, in which Loop (Var<0>) jumps back to this Rec.
template <class P>
struct Rec {};
/// Jumps back to an enclosing Rec: Var<0> to the innermost, Var<1> to the next one out, ...
template <std::size_t N>
struct Var {};
/// Back to the innermost enclosing Rec.
using Loop = Var<0>;
/// lunatic-rs's name for Loop.
using Pop = Loop;

template <class P, class S = Bincode>
class Protocol;

/// What a protocol operation throws when the session cannot go on: a protocol
/// was dropped before End in this process, or one was used after it was
/// consumed, or the peer chose a branch that does not exist.
class ProtocolError : public Error {
public:
    explicit ProtocolError(const std::string &what) : Error(LUNATIC_ESTATE, what) {}
};

/// What receive() returns: the protocol of the next step and the value
/// (auto [next, value] = std::move(p).receive();).
template <class Next, class T>
struct Received {
    Next protocol;
    T value;
};

/// Builds a visitor out of lambdas, for offer(visitor):
///     std::move(p).offer(lunatic::overloaded{[](Protocol<A> a) {...}, [](Protocol<B> b) {...}});
template <class... Fs>
struct overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

namespace detail::session {

template <class...>
inline constexpr bool always_false = false;

// ---- what a state is

enum class Kind { invalid, end, send, recv, choose, offer, rec, var };

template <class P>
struct traits {
    static constexpr Kind kind = Kind::invalid;
};
template <>
struct traits<End> {
    static constexpr Kind kind = Kind::end;
};
template <class T, class P>
struct traits<Send<T, P>> {
    static constexpr Kind kind = Kind::send;
    using value = T;
    using next = P;
};
template <class T, class P>
struct traits<Recv<T, P>> {
    static constexpr Kind kind = Kind::recv;
    using value = T;
    using next = P;
};
template <class... Ps>
struct traits<Choose<Ps...>> {
    static constexpr Kind kind = Kind::choose;
    static constexpr std::size_t branches = sizeof...(Ps);
    using list = std::tuple<Ps...>;
};
template <class... Ps>
struct traits<Offer<Ps...>> {
    static constexpr Kind kind = Kind::offer;
    static constexpr std::size_t branches = sizeof...(Ps);
    using list = std::tuple<Ps...>;
};
template <class P>
struct traits<Rec<P>> {
    static constexpr Kind kind = Kind::rec;
};
template <std::size_t N>
struct traits<Var<N>> {
    static constexpr Kind kind = Kind::var;
};

// ---- well-formedness

enum class Problem {
    none,
    not_a_state,
    unbound_loop,
    unguarded_loop,
    too_few_branches,
    reference_payload
};

constexpr Problem first_problem(std::initializer_list<Problem> all) {
    for (Problem p : all)
        if (p != Problem::none) return p;
    return Problem::none;
}

// A Rec whose body (after any nested Recs) is a Var would loop without a step.
template <class P>
struct head_is_var : std::false_type {};
template <std::size_t N>
struct head_is_var<Var<N>> : std::true_type {};
template <class P>
struct head_is_var<Rec<P>> : head_is_var<P> {};

template <class P, std::size_t Depth>
struct validate {
    static constexpr Problem value = Problem::not_a_state;
};
template <std::size_t D>
struct validate<End, D> {
    static constexpr Problem value = Problem::none;
};
template <class T, class P, std::size_t D>
struct validate<Send<T, P>, D> {
    static constexpr Problem value =
        std::is_reference_v<T> || std::is_const_v<T> || std::is_volatile_v<T>
            ? Problem::reference_payload
            : validate<P, D>::value;
};
template <class T, class P, std::size_t D>
struct validate<Recv<T, P>, D> {
    static constexpr Problem value =
        std::is_reference_v<T> || std::is_const_v<T> || std::is_volatile_v<T>
            ? Problem::reference_payload
            : validate<P, D>::value;
};
template <class... Ps, std::size_t D>
struct validate<Choose<Ps...>, D> {
    static constexpr Problem value =
        sizeof...(Ps) < 2 ? Problem::too_few_branches
                          : first_problem({Problem::none, validate<Ps, D>::value...});
};
template <class... Ps, std::size_t D>
struct validate<Offer<Ps...>, D> {
    static constexpr Problem value =
        sizeof...(Ps) < 2 ? Problem::too_few_branches
                          : first_problem({Problem::none, validate<Ps, D>::value...});
};
template <class P, std::size_t D>
struct validate<Rec<P>, D> {
    static constexpr Problem value =
        head_is_var<P>::value ? Problem::unguarded_loop : validate<P, D + 1>::value;
};
template <std::size_t N, std::size_t D>
struct validate<Var<N>, D> {
    static constexpr Problem value = N < D ? Problem::none : Problem::unbound_loop;
};

// ---- unfolding Rec: substitute the Rec for the Vars that jump to it

template <class P, std::size_t K, class R>
struct subst {
    using type = P;  // End
};
template <class T, class P, std::size_t K, class R>
struct subst<Send<T, P>, K, R> {
    using type = Send<T, typename subst<P, K, R>::type>;
};
template <class T, class P, std::size_t K, class R>
struct subst<Recv<T, P>, K, R> {
    using type = Recv<T, typename subst<P, K, R>::type>;
};
template <class... Ps, std::size_t K, class R>
struct subst<Choose<Ps...>, K, R> {
    using type = Choose<typename subst<Ps, K, R>::type...>;
};
template <class... Ps, std::size_t K, class R>
struct subst<Offer<Ps...>, K, R> {
    using type = Offer<typename subst<Ps, K, R>::type...>;
};
template <class P, std::size_t K, class R>
struct subst<Rec<P>, K, R> {
    using type = Rec<typename subst<P, K + 1, R>::type>;
};
template <std::size_t N, std::size_t K, class R>
struct subst<Var<N>, K, R> {
    using type = std::conditional_t<N == K, R, Var<N>>;
};

// The state a protocol is really at: its Recs unfolded (P must be well-formed
// and closed; then the result is closed too and starts with a step or End).
template <class P>
struct unfold {
    using type = P;
};
template <class P>
struct unfold<Rec<P>> {
    using type = typename unfold<typename subst<P, 0, Rec<P>>::type>::type;
};

template <class P, bool Valid = validate<P, 0>::value == Problem::none>
struct head {
    using type = P;  // not valid: the static_asserts of Protocol report why
};
template <class P>
struct head<P, true> {
    using type = typename unfold<P>::type;
};

// ---- duality

template <class P>
struct dual {
    static_assert(always_false<P>,
                  "lunatic::Dual<P>: P is not a protocol state (Send, Recv, Choose, Offer, Rec, "
                  "Loop/Var, End)");
    using type = P;
};
template <>
struct dual<End> {
    using type = End;
};
template <class T, class P>
struct dual<Send<T, P>> {
    using type = Recv<T, typename dual<P>::type>;
};
template <class T, class P>
struct dual<Recv<T, P>> {
    using type = Send<T, typename dual<P>::type>;
};
template <class... Ps>
struct dual<Choose<Ps...>> {
    using type = Offer<typename dual<Ps>::type...>;
};
template <class... Ps>
struct dual<Offer<Ps...>> {
    using type = Choose<typename dual<Ps>::type...>;
};
template <class P>
struct dual<Rec<P>> {
    using type = Rec<typename dual<P>::type>;
};
template <std::size_t N>
struct dual<Var<N>> {
    using type = Var<N>;
};

// ---- names for messages

template <class T>
const char *pretty_function() {
#if defined(__GNUC__) || defined(__clang__)
    return __PRETTY_FUNCTION__;
#else
    return "";
#endif
}

/// The C++ spelling of T as the compiler prints it ("?" where it cannot tell).
template <class T>
std::string cpp_name() {
    std::string_view f = pretty_function<T>();
    std::size_t at = f.find("T = ");
    std::size_t end = f.rfind(']');
    if (at == std::string_view::npos || end == std::string_view::npos || end < at) return "?";
    std::string name(f.substr(at + 4, end - at - 4));
    std::size_t semi = name.find(';');  // GCC appends typedef expansions after ';'
    if (semi != std::string::npos) name.resize(semi);
    auto replace_all = [&name](std::string_view from, std::string_view to) {
        for (std::size_t i = name.find(from); i != std::string::npos;
             i = name.find(from, i + to.size()))
            name.replace(i, from.size(), to);
    };
    replace_all("std::__cxx11::basic_string<char>", "std::string");
    replace_all("std::basic_string<char>", "std::string");
    replace_all("std::__cxx11::", "std::");
    replace_all(" >", ">");
    // Leave out the standard containers' default arguments.
    for (std::string_view arg :
         {", std::allocator<", ", std::less<", ", std::hash<", ", std::equal_to<"}) {
        for (std::size_t i = name.find(arg); i != std::string::npos; i = name.find(arg, i)) {
            std::size_t j = i + arg.size();
            for (int depth = 1; j < name.size() && depth > 0; ++j)
                depth += name[j] == '<' ? 1 : name[j] == '>' ? -1 : 0;
            name.erase(i, j - i);
        }
    }
    return name;
}

template <class P>
struct namer {
    static std::string get() { return cpp_name<P>(); }
};
template <>
struct namer<End> {
    static std::string get() { return "End"; }
};
template <class T, class P>
struct namer<Send<T, P>> {
    static std::string get() { return "Send<" + cpp_name<T>() + ", " + namer<P>::get() + ">"; }
};
template <class T, class P>
struct namer<Recv<T, P>> {
    static std::string get() { return "Recv<" + cpp_name<T>() + ", " + namer<P>::get() + ">"; }
};
template <class... Ps>
std::string branch_names() {
    std::string out;
    ((out += (out.empty() ? "" : ", ") + namer<Ps>::get()), ...);
    return out;
}
template <class... Ps>
struct namer<Choose<Ps...>> {
    static std::string get() { return "Choose<" + branch_names<Ps...>() + ">"; }
};
template <class... Ps>
struct namer<Offer<Ps...>> {
    static std::string get() { return "Offer<" + branch_names<Ps...>() + ">"; }
};
template <class P>
struct namer<Rec<P>> {
    static std::string get() { return "Rec<" + namer<P>::get() + ">"; }
};
template <std::size_t N>
struct namer<Var<N>> {
    static std::string get() {
        return N == 0 ? std::string("Loop") : "Var<" + std::to_string(N) + ">";
    }
};

using StateName = std::string (*)();

// ---- a dropped protocol marks its process

/// The process-local key of the mark (its value: the failure message, a std::string).
inline const char dropped_key = 0;

inline void delete_message(void *message) noexcept { delete static_cast<std::string *>(message); }

/// The message of the first protocol this process dropped before End, or nullptr.
inline const std::string *dropped() noexcept {
    void *value = nullptr;
    if (lunatic_process_local_get(&dropped_key, &value) != LUNATIC_OK) return nullptr;
    return static_cast<const std::string *>(value);
}

/// A protocol was dropped before End: fail the calling process (see the top of this header).
inline void report_drop(StateName state) noexcept {
    try {
        std::string message = "protocol dropped before End: " + state();
        void *value = nullptr;
        if (lunatic_process_local_get(&dropped_key, &value) != LUNATIC_OK) {
            // Not a process (the runtime is gone, or a plain thread): nothing to fail.
            std::fprintf(stderr, "lunatic: %s (outside a process)\n", message.c_str());
            return;
        }
        if (value) return;  // the first drop is the one reported
        auto *kept = new std::string(message);
        if (lunatic_process_local_set(&dropped_key, kept, &delete_message) != LUNATIC_OK)
            delete kept;
        lunatic_fail(message.c_str());
    } catch (...) {
        lunatic_fail("protocol dropped before End");
    }
}

inline void throw_if_dropped() {
    if (const std::string *message = dropped()) throw ProtocolError(*message);
}

// ---- the messages of a session

inline std::string pid_text(lunatic_pid pid) {
    char text[64];
    std::snprintf(text, sizeof text, "<%llx.%llu>", static_cast<unsigned long long>(pid.node),
                  static_cast<unsigned long long>(pid.id));
    return text;
}

template <class S, class T>
void send_on(lunatic_pid peer, lunatic_tag tag, const T &value, StateName state) {
    MessagePtr message(encode_message<S>(Tag(tag), value));
    int code = lunatic_send(peer, message.get());
    if (code == LUNATIC_OK) {
        (void)message.release();  // the runtime owns it now
        return;
    }
    if (code == LUNATIC_ENOPROC)
        throw NoProcessError(
            code, "protocol: the peer " + pid_text(peer) + " is gone (sending at " + state() + ")");
    throw_status(code);
}

/// The next message of the session (nullopt when the wait timed out).
template <class S, class T>
std::optional<T> receive_on(lunatic_tag tag, int64_t timeout_ns, StateName state) {
    lunatic_message *raw = nullptr;
    int code = lunatic_receive(&tag, 1, timeout_ns, &raw);
    if (code == LUNATIC_ETIMEDOUT) return std::nullopt;
    check(code);
    MessagePtr message(raw);
    std::optional<T> value(std::in_place);
    try {
        decode_payload<S>(lunatic_message_data(raw), lunatic_message_size(raw), *value);
    } catch (const DeserializationError &e) {
        throw DeserializationError("protocol: the message received at " + state() + " is not a " +
                                   cpp_name<T>() + ": " + e.what());
    }
    return value;
}

/// The wire type of a choice.
using Choice = uint32_t;

struct NotASendState {};
template <class P>
struct send_value {
    using type = NotASendState;
};
template <class T, class P>
struct send_value<Send<T, P>> {
    using type = T;
};

/// A value of type U may be sent where the protocol says T: the same type, or an
/// implicit conversion that does not narrow ("text" for a std::string, 1 for an int64_t).
template <class U, class T>
concept SendableAs = std::is_convertible_v<U &&, T> && requires(U &&u) {
    T{std::forward<U>(u)};
};

/// Builds protocols from a peer and a tag (the spawn functions and offer use it).
struct ProtocolAccess {
    template <class P, class S>
    static Protocol<P, S> make(lunatic_pid peer, lunatic_tag tag) noexcept {
        return Protocol<P, S>(peer, tag);
    }
};

}  // namespace detail::session

/// The other side's protocol: Send <-> Recv, Choose <-> Offer (computed at compile time).
template <class P>
using Dual = typename detail::session::dual<P>::type;

/// The capture bytes of a spawned protocol process (see the wire format above).
template <class C>
struct ProtocolCapture {
    Process<std::monostate> process;  // the spawner: the child's peer
    int64_t tag = 0;                  // the session tag
    C capture{};
    LUNATIC_FRIEND_FIELDS(ProtocolCapture, process, tag, capture)
};

/// One end of a session whose next step is P, its messages encoded with S.
/// Move-only; every operation consumes it (std::move(p).send(...)) and returns
/// the next step's protocol.
template <class P, class S>
class Protocol {
    static constexpr detail::session::Problem problem = detail::session::validate<P, 0>::value;
    static_assert(
        problem != detail::session::Problem::not_a_state,
        "lunatic::Protocol<P, S>: P is not a protocol: build it from Send<T, P>, Recv<T, P>, "
        "Choose<P...>, Offer<P...>, Rec<P>, Loop (Var<N>) and End");
    static_assert(
        problem != detail::session::Problem::unbound_loop,
        "lunatic::Protocol<P, S>: a Loop (or Var<N>) jumps back to a Rec that does not enclose it");
    static_assert(
        problem != detail::session::Problem::unguarded_loop,
        "lunatic::Protocol<P, S>: a Rec must take a step (Send, Recv, Choose, Offer or End) before "
        "it loops: Rec<Loop> never does anything");
    static_assert(problem != detail::session::Problem::too_few_branches,
                  "lunatic::Protocol<P, S>: Choose and Offer need at least two branches");
    static_assert(problem != detail::session::Problem::reference_payload,
                  "lunatic::Protocol<P, S>: the T of Send<T, P> and Recv<T, P> is a value type "
                  "(no reference, const or volatile): it is copied into a message");

    using traits = detail::session::traits<typename detail::session::head<P>::type>;
    static constexpr detail::session::Kind kind = traits::kind;
    using Kind = detail::session::Kind;

public:
    using protocol_type = P;
    using serializer_type = S;
    /// The step the protocol is at: P with its leading Recs unfolded.
    using state_type = typename detail::session::head<P>::type;
    /// The other end's protocol type.
    using dual_type = Protocol<Dual<P>, S>;

    Protocol(const Protocol &) = delete;
    Protocol &operator=(const Protocol &) = delete;
    Protocol(Protocol &&other) noexcept : peer_(other.peer_), tag_(std::exchange(other.tag_, 0)) {}
    /// Assigning over a protocol that is not at End (and not moved from) drops it.
    Protocol &operator=(Protocol &&other) noexcept {
        if (this != &other) {
            release();
            peer_ = other.peer_;
            tag_ = std::exchange(other.tag_, 0);
        }
        return *this;
    }
    ~Protocol() { release(); }

    /// A session with peer on tag, made by other means than spawn (e.g. a tag
    /// sent inside another session, or a process of another language). Not
    /// checked: the peer must follow Dual<P> on the same tag.
    template <class M, class S2>
    static Protocol from_process(const Process<M, S2> &peer, Tag tag) {
        if (tag.is_none())
            throw Error(LUNATIC_EINVAL, "Protocol::from_process: a session needs a tag");
        return Protocol(peer.raw(), tag.id());
    }

    /// The other end's process (its message type is unknown here: std::monostate).
    Process<std::monostate, S> peer() const noexcept { return Process<std::monostate, S>(peer_); }
    /// The session tag (Tag::none() once the protocol was consumed or moved from).
    Tag tag() const noexcept { return Tag(tag_); }
    /// Whether this object still holds the session (false once consumed or moved from).
    bool holds_session() const noexcept { return tag_ != 0; }
    /// P spelled out, e.g. "Recv<int, Send<int, End>>".
    static std::string state_name() { return detail::session::namer<P>::get(); }

    // ------------------------------------------------------------ Send<T, P>

    /// Sends value (a T, or something that converts to T without narrowing);
    /// returns the protocol of the next step. Throws NoProcessError if the peer is gone.
    template <class U = typename detail::session::send_value<state_type>::type>
    auto send(U &&value) && {
        if constexpr (kind != Kind::send) {
            static_assert(
                detail::session::always_false<U>,
                "lunatic::Protocol::send: the protocol does not send here (see its state in the "
                "Protocol<...> type above): Recv -> receive(), Choose -> select<I>(), "
                "Offer -> offer(), End -> nothing is left to do");
        } else {
            using T = typename traits::value;
            if constexpr (!detail::session::SendableAs<U, T>) {
                static_assert(
                    detail::session::always_false<U>,
                    "lunatic::Protocol::send: wrong type: the protocol says Send<T, P> and this "
                    "value is not a T (nor converts to one without narrowing)");
            } else {
                lunatic_tag tag = begin();
                if constexpr (std::is_same_v<std::remove_cvref_t<U>, T>) {
                    detail::session::send_on<S>(peer_, tag, static_cast<const T &>(value),
                                                &state_name);
                } else {
                    const T converted = std::forward<U>(value);
                    detail::session::send_on<S>(peer_, tag, converted, &state_name);
                }
                return next<typename traits::next>(tag);
            }
        }
    }

    // ------------------------------------------------------------ Recv<T, P>

    /// Waits for the peer's T; returns {protocol of the next step, value}:
    ///     auto [next, value] = std::move(p).receive();
    /// Throws DeserializationError if the message is not a T (the session is then over).
    auto receive() && {
        if constexpr (kind != Kind::recv) {
            static_assert(
                detail::session::always_false<P>,
                "lunatic::Protocol::receive: the protocol does not receive here (see its state in "
                "the Protocol<...> type above): Send -> send(v), Choose -> select<I>(), "
                "Offer -> offer(), End -> nothing is left to do");
        } else {
            using T = typename traits::value;
            static_assert(
                std::is_default_constructible_v<T>,
                "lunatic::Protocol::receive: a received T is decoded into a T{}: T must be "
                "default constructible");
            lunatic_tag tag = begin();
            T value =
                std::move(*detail::session::receive_on<S, T>(tag, LUNATIC_INFINITE, &state_name));
            return Received<Protocol<typename traits::next, S>, T>{next<typename traits::next>(tag),
                                                                   std::move(value)};
        }
    }

    /// receive() that waits at most timeout: nullopt if nothing came. A timeout
    /// ends the session quietly (the protocol is consumed, no drop failure): a
    /// message that arrives later stays in the mailbox under the session's tag.
    template <class Rep, class Period>
    auto receive_timeout(std::chrono::duration<Rep, Period> timeout) && {
        if constexpr (kind != Kind::recv) {
            static_assert(
                detail::session::always_false<Rep>,
                "lunatic::Protocol::receive_timeout: the protocol does not receive here (see its "
                "state in the Protocol<...> type above)");
        } else {
            using T = typename traits::value;
            using Result = Received<Protocol<typename traits::next, S>, T>;
            static_assert(std::is_default_constructible_v<T>,
                          "lunatic::Protocol::receive_timeout: T must be default constructible");
            lunatic_tag tag = begin();
            std::optional<T> value =
                detail::session::receive_on<S, T>(tag, detail::to_timeout_ns(timeout), &state_name);
            if (!value) return std::optional<Result>();
            return std::optional<Result>(
                Result{next<typename traits::next>(tag), std::move(*value)});
        }
    }

    // ------------------------------------------------------------ Choose<P...>

    /// Picks branch I (0-based) of a Choose and tells the peer; returns that branch's protocol.
    template <std::size_t I>
    auto select() && {
        if constexpr (kind != Kind::choose) {
            static_assert(
                detail::session::always_false<std::integral_constant<std::size_t, I>>,
                "lunatic::Protocol::select: the protocol does not choose here (only a Choose<P...> "
                "state selects; see its state in the Protocol<...> type above)");
        } else if constexpr (I >= traits::branches) {
            static_assert(
                detail::session::always_false<std::integral_constant<std::size_t, I>>,
                "lunatic::Protocol::select<I>: I is out of range: a Choose<P0, ..., Pn-1> has the "
                "branches 0 .. n-1");
        } else {
            using Branch = std::tuple_element_t<I, typename traits::list>;
            lunatic_tag tag = begin();
            detail::session::send_on<S>(peer_, tag, static_cast<detail::session::Choice>(I),
                                        &state_name);
            return next<Branch>(tag);
        }
    }
    /// select<0>() of a two-way Choose<P, Q>.
    auto select_left() && {
        if constexpr (kind != Kind::choose) {
            static_assert(
                detail::session::always_false<P>,
                "lunatic::Protocol::select_left: the protocol does not choose here (only a "
                "Choose<P, Q> state selects; see its state in the Protocol<...> type above)");
        } else if constexpr (traits::branches != 2) {
            static_assert(
                detail::session::always_false<P>,
                "lunatic::Protocol::select_left/select_right are for a two-way Choose<P, Q>: "
                "use select<I>() for a Choose with more branches");
        } else {
            return std::move(*this).template select<0>();
        }
    }
    /// select<1>() of a two-way Choose<P, Q>.
    auto select_right() && {
        if constexpr (kind != Kind::choose) {
            static_assert(
                detail::session::always_false<P>,
                "lunatic::Protocol::select_right: the protocol does not choose here (only a "
                "Choose<P, Q> state selects; see its state in the Protocol<...> type above)");
        } else if constexpr (traits::branches != 2) {
            static_assert(
                detail::session::always_false<P>,
                "lunatic::Protocol::select_left/select_right are for a two-way Choose<P, Q>: "
                "use select<I>() for a Choose with more branches");
        } else {
            return std::move(*this).template select<1>();
        }
    }

    // ------------------------------------------------------------ Offer<P...>

    /// Waits for the peer's choice; returns a std::variant of the branches'
    /// protocols holding the chosen one (index = the branch). Handle it with
    /// std::visit, index()/std::get, or offer(visitor).
    auto offer() && {
        if constexpr (kind != Kind::offer) {
            static_assert(
                detail::session::always_false<P>,
                "lunatic::Protocol::offer: the protocol does not offer a choice here (only an "
                "Offer<P...> state does; see its state in the Protocol<...> type above)");
        } else {
            lunatic_tag tag = begin();
            auto choice = detail::session::receive_on<S, detail::session::Choice>(
                tag, LUNATIC_INFINITE, &state_name);
            return branch(*choice, tag);
        }
    }

    /// offer() handed to visitor (callable with every branch's protocol, e.g. a
    /// lunatic::overloaded of lambdas); returns what it returns.
    template <class F>
    decltype(auto) offer(F &&visitor) && {
        if constexpr (kind != Kind::offer) {
            static_assert(
                detail::session::always_false<F>,
                "lunatic::Protocol::offer: the protocol does not offer a choice here (only an "
                "Offer<P...> state does; see its state in the Protocol<...> type above)");
        } else {
            return std::visit(std::forward<F>(visitor), std::move(*this).offer());
        }
    }

    /// offer() that waits at most timeout: nullopt if no choice came (the session
    /// then ends quietly, as with receive_timeout).
    template <class Rep, class Period>
    auto offer_timeout(std::chrono::duration<Rep, Period> timeout) && {
        if constexpr (kind != Kind::offer) {
            static_assert(
                detail::session::always_false<Rep>,
                "lunatic::Protocol::offer_timeout: the protocol does not offer a choice here");
        } else {
            lunatic_tag tag = begin();
            auto choice = detail::session::receive_on<S, detail::session::Choice>(
                tag, detail::to_timeout_ns(timeout), &state_name);
            using Result = decltype(branch(0, tag));
            if (!choice) return std::optional<Result>();
            return std::optional<Result>(branch(*choice, tag));
        }
    }

    // ---- calling an operation on an lvalue: say how to do it instead
#define LUNATIC_PROTOCOL_LVALUE_MESSAGE                                                           \
    "lunatic::Protocol: an operation consumes the protocol and returns the next one: call it on " \
    "std::move(p) and keep the result (auto [next, value] = std::move(p).receive(); ...)"

    template <class U = typename detail::session::send_value<state_type>::type>
    void send(U &&) & {
        static_assert(detail::session::always_false<U>, LUNATIC_PROTOCOL_LVALUE_MESSAGE);
    }
    void receive() & {
        static_assert(detail::session::always_false<P>, LUNATIC_PROTOCOL_LVALUE_MESSAGE);
    }
    template <class Rep, class Period>
    void receive_timeout(std::chrono::duration<Rep, Period>) & {
        static_assert(detail::session::always_false<Rep>, LUNATIC_PROTOCOL_LVALUE_MESSAGE);
    }
    template <std::size_t I>
    void select() & {
        static_assert(detail::session::always_false<std::integral_constant<std::size_t, I>>,
                      LUNATIC_PROTOCOL_LVALUE_MESSAGE);
    }
    void select_left() & {
        static_assert(detail::session::always_false<P>, LUNATIC_PROTOCOL_LVALUE_MESSAGE);
    }
    void select_right() & {
        static_assert(detail::session::always_false<P>, LUNATIC_PROTOCOL_LVALUE_MESSAGE);
    }
    void offer() & {
        static_assert(detail::session::always_false<P>, LUNATIC_PROTOCOL_LVALUE_MESSAGE);
    }
    template <class F>
    void offer(F &&) & {
        static_assert(detail::session::always_false<F>, LUNATIC_PROTOCOL_LVALUE_MESSAGE);
    }
    template <class Rep, class Period>
    void offer_timeout(std::chrono::duration<Rep, Period>) & {
        static_assert(detail::session::always_false<Rep>, LUNATIC_PROTOCOL_LVALUE_MESSAGE);
    }

#undef LUNATIC_PROTOCOL_LVALUE_MESSAGE

private:
    friend struct detail::session::ProtocolAccess;
    template <class, class>
    friend class Protocol;

    Protocol(lunatic_pid peer, lunatic_tag tag) noexcept : peer_(peer), tag_(tag) {}

    template <class Next>
    Protocol<Next, S> next(lunatic_tag tag) const noexcept {
        return Protocol<Next, S>(peer_, tag);
    }

    /// Starts an operation: takes the session out of this object (a failure
    /// from here on ends the session through the exception, not as a drop).
    lunatic_tag begin() {
        lunatic_tag tag = std::exchange(tag_, 0);
        if (tag == 0)
            throw ProtocolError("protocol used after it was consumed or moved from (at " +
                                state_name() + ")");
        detail::session::throw_if_dropped();
        return tag;
    }

    /// The protocol of branch `choice` of an Offer, in a variant.
    auto branch(detail::session::Choice choice, lunatic_tag tag) const {
        return [&]<std::size_t... I>(std::index_sequence<I...>) {
            using Variant =
                std::variant<Protocol<std::tuple_element_t<I, typename traits::list>, S>...>;
            if (choice >= sizeof...(I))
                throw ProtocolError("protocol: the peer chose branch " + std::to_string(choice) +
                                    " of " + std::to_string(sizeof...(I)) + " at " + state_name());
            using Make = Variant (*)(lunatic_pid, lunatic_tag);
            static constexpr Make table[] = {+[](lunatic_pid peer, lunatic_tag t) {
                return Variant(
                    std::in_place_index<I>,
                    Protocol<std::tuple_element_t<I, typename traits::list>, S>(peer, t));
            }...};
            return table[choice](peer_, tag);
        }
        (std::make_index_sequence<traits::branches>());
    }

    void release() noexcept {
        if (tag_ != 0 && kind != Kind::end) detail::session::report_drop(&state_name);
        tag_ = 0;
    }

    lunatic_pid peer_{};
    lunatic_tag tag_ = 0;  // 0: consumed or moved from
};

}  // namespace lunatic
