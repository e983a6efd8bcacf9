/* cuda_loader: finds and loads the CUDA module (runner_impl.h). The module is opened with
 * RTLD_NODELETE: the CUDA runtime it links cannot be unloaded safely once a context exists,
 * and a command that opens several runners (a sweep's tasks) finds it already mapped. */
#define _GNU_SOURCE /* RTLD_NODELETE, dladdr1 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner_impl.h"

#ifdef GQ_HAVE_CUDA
/* The directory of the object that holds this code, into dir, and whether it is a shared
 * library (*library): the executable (glueq), or libglueq wherever a program loaded it
 * from (python3's ctypes), so that the module is found beside the code it was built
 * with. 0 when neither the loader nor /proc/self/exe can tell. */
static int code_dir(char *dir, size_t n, int *library) {
    Dl_info info;
    struct link_map *map = NULL;
    /* the executable's link map has the name "" */
    *library = dladdr1((void *)code_dir, &info, (void **)&map, RTLD_DL_LINKMAP) && map && map->l_name[0];
    ssize_t len = *library ? snprintf(dir, n, "%s", map->l_name) : readlink("/proc/self/exe", dir, n - 1);
    if (len <= 0 || (size_t)len >= n) return 0;
    dir[len] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash) return 0;
    *slash = '\0';
    return 1;
}

/* Beside the code (a build tree, a bundle), else where `cmake --install` puts it relative
 * to the code: GQ_CUDA_MODULE_REL from the executable (bin/ -> lib/glueq/, any prefix),
 * glueq/ from libglueq (LIBDIR -> LIBDIR/glueq). */
static gq_status find_installed(char *path, size_t n, gq_err *err) {
    char dir[4096], installed[4300];
    int library;
    if (!code_dir(dir, sizeof dir, &library))
        return gq_fail(err, GQ_ERR_IO, "device cuda: cannot tell where glueq's code was loaded from to find %s (set "
                       "GLUEQ_CUDA_MODULE)", GQ_CUDA_MODULE_FILE);
    snprintf(path, n, "%s/%s", dir, GQ_CUDA_MODULE_FILE);
    if (gq_file_exists(path)) return GQ_OK;
    snprintf(installed, sizeof installed, "%s/%s/%s", dir, library ? "glueq" : GQ_CUDA_MODULE_REL, GQ_CUDA_MODULE_FILE);
    if (gq_file_exists(installed)) {
        snprintf(path, n, "%s", installed);
        return GQ_OK;
    }
    return gq_fail(err, GQ_ERR_IO,
                   "device cuda: the CUDA backend is missing: neither %s nor %s exists (reinstall glueq, or set "
                   "GLUEQ_CUDA_MODULE to the file)", path, installed);
}
#endif

static gq_status find_module(char *path, size_t n, gq_err *err) {
    const char *env = getenv("GLUEQ_CUDA_MODULE");
    if (env && *env) {
        snprintf(path, n, "%s", env);
        return GQ_OK;
    }
#ifdef GQ_HAVE_CUDA
    return find_installed(path, n, err);
#else
    return gq_fail(err, GQ_ERR_UNSUPPORTED,
                   "device cuda: this glueq was built without CUDA (configure with -DGLUEQ_CUDA=ON where nvcc is "
                   "installed)");
#endif
}

gq_status gq_cuda_module_open(void **handle, const gq_encoder_cuda_api **api, gq_err *err) {
    char path[4400];
    *handle = NULL, *api = NULL;
    gq_status s = find_module(path, sizeof path, err);
    if (s != GQ_OK) return s;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) return gq_fail(err, GQ_ERR_IO, "device cuda: cannot load the CUDA backend %s: %s", path, dlerror());
    const gq_encoder_cuda_api *t = dlsym(h, GQ_CUDA_MODULE_SYMBOL);
    if (!t) s = gq_fail(err, GQ_ERR_IO, "device cuda: %s is not a glueq CUDA backend (no %s)", path, GQ_CUDA_MODULE_SYMBOL);
    else if (t->abi != GQ_CUDA_MODULE_ABI || t->model_size != sizeof(gq_encoder))
        s = gq_fail(err, GQ_ERR_IO,
                    "device cuda: %s was built for another glueq (module interface %d, this glueq's %d): rebuild or "
                    "reinstall the two together", path, t->abi, GQ_CUDA_MODULE_ABI);
    if (s != GQ_OK) {
        dlclose(h);
        return s;
    }
    *handle = h, *api = t;
    return GQ_OK;
}

void gq_cuda_module_close(void *handle) {
    if (handle) dlclose(handle);
}
