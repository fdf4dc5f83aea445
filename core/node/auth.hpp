// Handshake cryptography: random nonces and the HMAC-SHA256 challenge
// response over the cookie (OpenSSL). Each side proves it knows the cookie by
// MACing the nonce the other side chose, so a recorded answer is useless on
// another connection; the node ids bound into the MAC stop an answer being
// reflected back to its sender.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/node/wire.hpp"

namespace lunatic::core::node {

using Nonce = std::array<uint8_t, kNonceBytes>;
using Mac = std::array<uint8_t, kMacBytes>;

// false if the system's random source failed.
bool random_nonce(Nonce &out) noexcept;
uint64_t random_u64() noexcept;

// HMAC-SHA256(cookie, nonce | prover id | verifier id), ids little-endian.
Mac auth_mac(const std::string &cookie, const Nonce &nonce, uint64_t prover, uint64_t verifier);

// Constant-time comparison, so timing tells an attacker nothing about the MAC.
bool mac_equal(const Mac &a, const uint8_t *b) noexcept;

}  // namespace lunatic::core::node
