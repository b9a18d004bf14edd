/* Fuzz target spec: the bytes are a search spec, loaded by aml_spec_load (what `automl search`
 * runs first) with the built plugins registered, so model and parameter checks run too. A
 * refused spec must get a message naming it.
 *
 * A spec is a Lua program: it may loop forever or allocate without end. The harness bounds it
 * itself, whatever lua_host.c does: it is linked with -Wl,--wrap=luaL_newstate (tests/fuzz/
 * CMakeLists.txt), so every state the engine creates gets an allocator capped at
 * SPEC_MEMORY_LIMIT and a count hook that raises an error after SPEC_INSTRUCTION_LIMIT
 * instructions. The same hook, at the first call into Lua code (the spec's chunk, after the
 * engine opened the libraries), removes what lets Lua reach the machine (os.execute, os.remove,
 * io, package.loadlib ...), so that a mutated spec cannot touch files while fuzzing. */
#include "fuzz_util.h"
#include "plugin_loader.h"
#include "spec.h"

#include <automl/automl.h>
#include <lauxlib.h>
#include <lua.h>
#include <sys/stat.h>

#define SPEC_INSTRUCTION_LIMIT 10000000
#define SPEC_MEMORY_LIMIT ((size_t)256 << 20)

lua_State *__wrap_luaL_newstate(void);

static size_t lua_bytes; /* one spec (one state) at a time */

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        lua_bytes -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > SPEC_MEMORY_LIMIT - lua_bytes)
        return NULL; /* Lua raises "not enough memory" */
    void *p = realloc(ptr, nsize);
    if (p)
        lua_bytes = lua_bytes - old + nsize;
    return p;
}

static void strip(lua_State *L, const char *table, const char *const *names)
{
    lua_getglobal(L, table);
    if (lua_istable(L, -1))
        for (int i = 0; names[i]; i++) {
            lua_pushnil(L);
            lua_setfield(L, -2, names[i]);
        }
    lua_pop(L, 1);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    if (ar->event == LUA_HOOKCOUNT) {
        luaL_error(L, "fuzz: the spec ran over %d instructions", SPEC_INSTRUCTION_LIMIT);
        return;
    }
    if (!lua_getinfo(L, "S", ar) || ar->what[0] == 'C')
        return;
    static const char *const os_names[] = {"execute", "remove", "rename", "tmpname", "getenv", NULL};
    static const char *const package_names[] = {"loadlib", "searchers", NULL};
    strip(L, "os", os_names);
    strip(L, "package", package_names);
    static const char *const globals[] = {"io", "require", "dofile", "loadfile", NULL};
    for (int i = 0; globals[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, globals[i]);
    }
    lua_sethook(L, hook, LUA_MASKCOUNT, SPEC_INSTRUCTION_LIMIT);
}

static int panic(lua_State *L)
{
    fprintf(stderr, "fuzz: Lua panic: %s\n", lua_tostring(L, -1));
    abort();
}

/* luaL_newstate's state, with the capped allocator and the hook. */
lua_State *__wrap_luaL_newstate(void)
{
    lua_bytes = 0;
    lua_State *L = lua_newstate(capped_alloc, NULL);
    if (L) {
        lua_atpanic(L, panic);
        lua_sethook(L, hook, LUA_MASKCALL | LUA_MASKCOUNT, SPEC_INSTRUCTION_LIMIT);
    }
    return L;
}

static aml_registry *plugins;
static char *spec_path;

/* The spec is written to TMP/specs/spec.lua, beside TMP/specs/datasets and TMP/data which lead
 * to the repository's: the shipped specs' data paths ("../data/h5/..." next to tests/specs,
 * "datasets/wine.h5" from the top) resolve from any working directory. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    plugins = aml_registry_new();
    aml_registry_scan_dir(plugins, AML_PLUGIN_BUILD_DIR);
    char *specs = fuzz_path("specs"), *data = fuzz_path("data"), *datasets = fuzz_path("specs/datasets");
    if (mkdir(specs, 0700) != 0 || symlink(AML_SOURCE_DIR "/tests/data", data) != 0 ||
        symlink(AML_SOURCE_DIR "/datasets", datasets) != 0) {
        perror("fuzz: spec setup");
        abort();
    }
    spec_path = fuzz_path("specs/spec.lua");
    free(specs);
    free(data);
    free(datasets);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    if (!spec_path)
        LLVMFuzzerInitialize(NULL, NULL);
    FILE *f = fopen(spec_path, "wb");
    if (!f || (size && fwrite(bytes, 1, size, f) != size) || fclose(f) != 0) {
        perror(spec_path);
        abort();
    }
    aml_ctx *c = aml_ctx_new();
    aml_search_spec spec;
    if (aml_spec_load(c, spec_path, plugins, &spec) != AML_OK)
        fuzz_check_message("aml_spec_load", aml_errmsg(c), spec_path);
    else {
        fuzz_note("fuzz: loaded %s", spec_path);
        aml_spec_free(&spec);
    }
    aml_ctx_free(c);
    return 0;
}
