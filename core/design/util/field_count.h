// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The number of fields of an aggregate struct, at compile time: the most initialisers `T{…}` accepts. Tables
// that describe a struct field by field static_assert against it, so a field added to the struct without
// its table entry (its JSON key, its option) stops the build instead of being silently dropped.
#include <cstddef>
#include <type_traits>
#include <utility>

namespace peft {

namespace detail {

struct AnyField {
    template <class T>
    constexpr operator T() const noexcept;  // never defined: only used in unevaluated contexts
};

template <class T, class... A>
constexpr auto braceInitializable(int) -> decltype(T{std::declval<A>()...}, std::true_type{});
template <class T, class... A>
constexpr std::false_type braceInitializable(...);

template <class T, class... A>
constexpr size_t fieldCount() {
    if constexpr (decltype(braceInitializable<T, A..., AnyField>(0))::value)
        return fieldCount<T, A..., AnyField>();
    else
        return sizeof...(A);
}

}  // namespace detail

template <class T>
constexpr size_t aggregateFieldCount() {
    static_assert(std::is_aggregate_v<T>, "counts the fields of aggregates only");
    return detail::fieldCount<T>();
}

}  // namespace peft
