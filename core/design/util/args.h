// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A small strict command-line parser: --name value, --name=value, --flag, repeatable options.
// Unknown options and malformed numbers raise peft::Error naming the option.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace peft {

struct OptionSpec {
    std::string name;  // without dashes
    bool takes_value = true;
    bool repeatable = false;
};

class Args {
public:
    Args(const std::vector<std::string>& argv, const std::vector<OptionSpec>& options,
         const std::string& command);

    bool flag(const std::string& name) const { return values_.count(name) > 0; }
    std::optional<std::string> get(const std::string& name) const;
    std::vector<std::string> all(const std::string& name) const;
    std::optional<int64_t> getInt(const std::string& name) const;
    std::optional<double> getDouble(const std::string& name) const;
    const std::vector<std::string>& positional() const { return positional_; }
    /// The arguments as given (for recording how a run was started).
    const std::vector<std::string>& raw() const { return raw_; }

private:
    std::string command_;
    std::map<std::string, std::vector<std::string>> values_;
    std::vector<std::string> positional_;
    std::vector<std::string> raw_;
};

}  // namespace peft
