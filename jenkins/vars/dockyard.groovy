// Dockyard as a Jenkins shared-library step: maps the step's arguments onto the
// environment variables the `dockyard` CLI reads, runs it, and returns its record (run's
// release record, plan's plan, prune's record of what goes).
// All logic (Jenkins' GIT_*/BRANCH_NAME/TAG_NAME/CHANGE_* variables, tags, pushing,
// masking) lives in Dockyard itself. See dockyard.txt beside this file for the arguments.
// Only pipeline steps are called (no JsonOutput, no java.io): the step runs in the
// script-security sandbox of a library that is not trusted.

// step argument -> environment variable read by `dockyard`
@groovy.transform.Field
static final Map INPUTS = [
    config    : 'DOCKYARD_CONFIG',
    images    : 'DOCKYARD_IMAGES',
    tags      : 'DOCKYARD_TAGS',
    flavor    : 'DOCKYARD_FLAVOR',
    labels    : 'DOCKYARD_LABELS',
    annotations: 'DOCKYARD_ANNOTATIONS',
    bakeTarget: 'DOCKYARD_BAKE_TARGET',
    apply     : 'DOCKYARD_APPLY',
    openPrs   : 'DOCKYARD_OPEN_PRS',
    branches  : 'DOCKYARD_BRANCHES',
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

@groovy.transform.Field
static final List OPTIONS = ['command', 'credentials', 'output', 'propagate']

// run: build, tag, push; plan: version, tags, labels (nothing built); prune: delete the
// tags `retention:` does not keep (a dry run unless `apply: true`)
@groovy.transform.Field
static final List COMMANDS = ['run', 'plan', 'prune']

def call(Map args = [:]) {
    def unknown = args.keySet() - INPUTS.keySet() - OPTIONS
    if (unknown) {
        error("dockyard: unknown argument(s) ${unknown.sort()}; known: " +
              "${(INPUTS.keySet() + OPTIONS).sort()}")
    }
    String command = args.command ?: 'run'
    if (!(command in COMMANDS)) {
        error("dockyard: command '${command}' is not one of ${COMMANDS}")
    }
    String output = args.output ?: 'dockyard-release.json'
    List<String> environment = ["DOCKYARD_RECORD=${output}".toString(),
                                "DOCKYARD_COMMAND=${command}".toString()]
    INPUTS.each { name, variable ->
        if (args[name] != null) {
            environment << "${variable}=${text(name, args[name])}".toString()
        }
    }
    int status = 0
    withEnv(environment) {
        // Credentials become environment variables only; dockyard.yml or the
        // `registries` argument names them as ${VARIABLE}. A record left by an earlier
        // build is removed first, so the one read below is this run's.
        withCredentials(args.credentials ?: []) {
            status = sh(label: "dockyard ${command}", returnStatus: true,
                        script: 'rm -f "$DOCKYARD_RECORD" && ' +
                                'dockyard "$DOCKYARD_COMMAND" --output "$DOCKYARD_RECORD"')
        }
    }
    // Dockyard writes the record on every exit, a failed one too: read it before failing.
    // returnPojo: plain maps and lists, where JSON null is null (json-lib's JSONNull is truthy).
    def record = fileExists(output) ? readJSON(file: output, returnPojo: true) : null
    if (status != 0 && args.propagate != false) {
        String why = record?.error ? ": ${record.error}" : ''
        error("dockyard ${command} failed with exit code ${status}${why} (record: ${output})")
    }
    return record ?: [status: 'failed', exit_code: status, error: "dockyard exited ${status} " +
                      'without writing a record']
}

// Lists become one item a line (openPrs, branches too: Dockyard splits them on commas
// and white space), maps `key=value` lines (labels, annotations, buildArgs) or JSON
// (registries, webhooks: JSON is YAML); strings, numbers and booleans pass as text.
private String text(String name, value) {
    if ((value instanceof Map || value instanceof List) && name in ['registries', 'webhooks']) {
        return writeJSON(json: value, returnText: true)
    }
    if (value instanceof Map) {
        return value.collect { k, v -> "${k}=${v}" }.join('\n')
    }
    if (value instanceof List) {
        return value.join('\n')
    }
    return value.toString()
}
