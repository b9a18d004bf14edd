-- expect: :6: load: binary chunks are refused in a spec (only Lua source text is loaded)
-- Corrupt bytecode: string.dump of a small function with one byte changed. Lua does not verify
-- bytecode, and calling this chunk crashed automl with SIGSEGV before load() took text only.
local data = "../data/h5/minimal_regression.h5"
local f, err = load("\27\76\117\97\84\0\25\147\13\10\26\10\4\8\8\120\86\0\0\0\0\0\0\0\0\0\0\0\40\119\64\0\137\64\103\101\110\46\108\117\97\129\129\1\0\5\139\255\0\0\3\82\0\0\0\3\1\0\0\131\129\0\0\0\2\0\0\206\0\3\0\13\1\1\1\180\1\1\0\53\1\2\0\72\1\2\0\71\1\1\0\130\4\132\97\98\99\19\0\0\0\0\0\0\248\63\128\128\139\0\0\0\0\0\0\0\0\0\0\0\128\130\130\97\128\139\130\116\134\139\128")
if not f then error(err) end
f(1)
return automl.search { data = data }
