// Dockyard as a Jenkins shared-library step: maps the step's arguments onto the
// environment variables the `dockyard` CLI reads, runs it, and returns the release record.
// All logic (Jenkins' GIT_*/BRANCH_NAME/TAG_NAME/CHANGE_* variables, tags, pushing,
// masking) lives in Dockyard itself. See dockyard.txt beside this file for the arguments.

import groovy.json.JsonOutput

// step argument -> environment variable read by `dockyard run`
@groovy.transform.Field
static final Map INPUTS = [
    config    : 'DOCKYARD_CONFIG',
    images    : 'DOCKYARD_IMAGES',
    tags      : 'DOCKYARD_TAGS',
    flavor    : 'DOCKYARD_FLAVOR',
    labels    : 'DOCKYARD_LABELS',
    context   : 'DOCKYARD_CONTEXT',
    file      : 'DOCKYARD_FILE',
    buildArgs : 'DOCKYARD_BUILD_ARGS',
    target    : 'DOCKYARD_TARGET',
    push      : 'DOCKYARD_PUSH',
    registries: 'DOCKYARD_REGISTRIES',
    webhooks  : 'DOCKYARD_WEBHOOKS',
    secrets   : 'DOCKYARD_SECRETS',
    secretFiles: 'DOCKYARD_SECRET_FILES',
    ssh       : 'DOCKYARD_SSH',
    platforms : 'DOCKYARD_PLATFORMS',
    cacheFrom : 'DOCKYARD_CACHE_FROM',
    cacheTo   : 'DOCKYARD_CACHE_TO',
    provenance: 'DOCKYARD_PROVENANCE',
    sbom      : 'DOCKYARD_SBOM',
    builder   : 'DOCKYARD_BUILDER',
    backend   : 'DOCKYARD_BACKEND',
]

def call(Map args = [:]) {
    def unknown = args.keySet() - INPUTS.keySet() - ['credentials', 'output']
    if (unknown) {
        error("dockyard: unknown argument(s) ${unknown.sort()}; known: " +
              "${(INPUTS.keySet() + ['credentials', 'output']).sort()}")
    }
    String output = args.output ?: 'dockyard-release.json'
    List<String> environment = ["DOCKYARD_RECORD=${output}".toString()]
    INPUTS.each { name, variable ->
        if (args[name] != null) {
            environment << "${variable}=${text(name, args[name])}".toString()
        }
    }
    withEnv(environment) {
        // Credentials become environment variables only; dockyard.yml or the
        // `registries` argument names them as ${VARIABLE}.
        withCredentials(args.credentials ?: []) {
            sh(label: 'dockyard run', script: 'dockyard run --output "$DOCKYARD_RECORD"')
        }
    }
    return readJSON(file: output)
}

// Lists become one item a line, maps `key=value` lines (labels, buildArgs) or JSON
// (registries, webhooks: JSON is YAML); strings and booleans pass as they are.
private static String text(String name, value) {
    if (value instanceof Map && name in ['registries', 'webhooks']) {
        return JsonOutput.toJson(value)
    }
    if (value instanceof List && name == 'webhooks') {
        return JsonOutput.toJson(value)
    }
    if (value instanceof Map) {
        return value.collect { k, v -> "${k}=${v}" }.join('\n')
    }
    if (value instanceof List) {
        return value.join('\n')
    }
    return value.toString()
}
