#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Writes the PyTorch checkpoint fixtures of tests/test_torch_pickle.cpp with PyTorch itself (Debian's
# python3-torch 1.13.1), so that the workbench's reader is tested against files it did not write.
# Values follow formulas the test recomputes on its own. Run from this folder: /usr/bin/python3 make_fixtures.py
import collections
import os

import torch


def state_dict():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8 - 0.5
    sd = collections.OrderedDict()
    sd["f32"] = base
    sd["f16"] = (torch.arange(6, dtype=torch.float32) / 4 - 0.75).reshape(2, 3).half()
    sd["bf16"] = (torch.arange(5, dtype=torch.float32) * 0.5 - 1).bfloat16()
    sd["f64"] = torch.arange(4, dtype=torch.float64) / 3
    sd["i64"] = torch.arange(5, dtype=torch.int64) * 1000 - 2000
    sd["i32"] = torch.arange(4, dtype=torch.int32) - 2
    sd["u8"] = torch.arange(3, dtype=torch.uint8) * 100
    sd["bool"] = torch.tensor([True, False, True])
    sd["transposed"] = base.t()        # stride (1, 4): shares base's storage
    sd["rows_1_2"] = base[1:]          # storage offset 4
    sd["tied"] = base                  # the same tensor under two names
    sd["param"] = torch.nn.Parameter(torch.full((2,), 0.25))
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    sd._metadata = collections.OrderedDict({"": {"version": 1}})  # as Module.state_dict() sets it
    return sd


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def main():
    sd = state_dict()
    torch.save(sd, "state_dict_1_13.bin")
    torch.save(collections.OrderedDict(w=torch.ones(2)), "legacy_1_13.bin", _use_new_zipfile_serialization=False)
    torch.save({"w": torch.ones(2), "hook": Evil()}, "code_exec.bin")
    torch.save({"w": torch.ones(2), "step": 3}, "non_tensor_value.bin")
    torch.save([torch.ones(2)], "not_a_dict.bin")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), "torchscript.pt")


if __name__ == "__main__":
    main()
