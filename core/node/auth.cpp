#include "core/node/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace lunatic::core::node {

bool random_nonce(Nonce &out) noexcept { return RAND_bytes(out.data(), int(out.size())) == 1; }

uint64_t random_u64() noexcept {
    uint64_t v = 0;
    RAND_bytes(reinterpret_cast<unsigned char *>(&v), sizeof v);
    return v;
}

Mac auth_mac(const std::string &cookie, const Nonce &nonce, uint64_t prover, uint64_t verifier) {
    std::string input;
    input.append(reinterpret_cast<const char *>(nonce.data()), nonce.size());
    ByteWriter w(input);
    w.u64(prover);
    w.u64(verifier);
    Mac mac{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), cookie.data(), int(cookie.size()),
         reinterpret_cast<const unsigned char *>(input.data()), input.size(), mac.data(), &len);
    return mac;
}

bool mac_equal(const Mac &a, const uint8_t *b) noexcept {
    return CRYPTO_memcmp(a.data(), b, a.size()) == 0;
}

}  // namespace lunatic::core::node
