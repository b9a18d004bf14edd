local s = string.rep('x', 3 << 29)
