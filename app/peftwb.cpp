// SPDX-License-Identifier: GPL-3.0-or-later
// peftwb: the headless CLI. All behaviour lives in core/ (cli/cli.cpp).
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "util/system.h"

int main(int argc, char** argv) {
    peft::preferPassiveOpenMpWait(argv);
    std::vector<std::string> args(argv + 1, argv + argc);
    return peft::runCli(args, std::cout, std::cerr);
}
