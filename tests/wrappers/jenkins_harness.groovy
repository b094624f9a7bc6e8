// Stands in for the Jenkins pipeline steps a shared-library step uses, then runs a
// pipeline snippet that calls it. Usage (json-lib and its dependencies on the classpath):
//   groovy -cp JARS jenkins_harness.groovy VARS_DIR SNIPPET_FILE CREDENTIALS_JSON TRANSCRIPT_JSON
// `sh` really runs its script with bash (cwd and environment of this process, plus what
// withEnv/withCredentials added), as Jenkins' `sh` does; a non-zero exit throws unless
// `returnStatus: true`. readJSON and writeJSON are Pipeline Utility Steps' own calls into
// json-lib (JSONSerializer): without `returnPojo` readJSON returns json-lib's objects, whose
// JSON null is a truthy JSONNull; with it, LinkedHashMaps and ArrayLists with real nulls.
// The transcript records each sh call (script, label, the names of the variables it got)
// and the value the snippet returned.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import net.sf.json.JSONArray
import net.sf.json.JSONNull
import net.sf.json.JSONObject
import net.sf.json.JSONSerializer

def (varsDir, snippetFile, credentialsFile, transcriptFile) = args as List
Map store = new JsonSlurper().parse(new File(credentialsFile)) as Map
List<Map> frames = []          // withEnv / withCredentials layers, innermost last
List<Map> calls = []

Closure currentEnv = { ->
    Map merged = [:]
    frames.each { merged.putAll(it) }
    merged
}

def binding = new Binding()
binding.setVariable('env', System.getenv())
binding.setVariable('error', { String message -> throw new RuntimeException(message) })
binding.setVariable('withEnv', { List entries, Closure body ->
    frames << entries.collectEntries { String e -> def (k, v) = e.split('=', 2); [(k): v] }
    try { body() } finally { frames.removeAt(frames.size() - 1) }
})
binding.setVariable('usernamePassword', { Map b -> [kind: 'usernamePassword'] + b })
binding.setVariable('string', { Map b -> [kind: 'string'] + b })
binding.setVariable('withCredentials', { List bindings, Closure body ->
    Map values = [:]
    bindings.each { Map b ->
        Map secret = store[b.credentialsId] as Map
        if (secret == null) { throw new RuntimeException("no credentials '${b.credentialsId}'") }
        if (b.kind == 'usernamePassword') {
            values[b.usernameVariable] = secret.username
            values[b.passwordVariable] = secret.password
        } else {
            values[b.variable] = secret.secret
        }
    }
    frames << values
    try { body() } finally { frames.removeAt(frames.size() - 1) }
})
binding.setVariable('sh', { Map step ->
    Map extra = currentEnv()
    calls << [script: step.script, label: step.label, variables: extra.keySet().sort()]
    def builder = new ProcessBuilder('bash', '-c', step.script as String)
    builder.environment().putAll(extra)
    builder.redirectOutput(ProcessBuilder.Redirect.INHERIT)
    builder.redirectError(ProcessBuilder.Redirect.INHERIT)
    int status = builder.start().waitFor()
    if (step.returnStatus) { return status }
    if (status != 0) { throw new RuntimeException("script returned exit code ${status}") }
})
binding.setVariable('fileExists', { String path -> new File(path).exists() })
Closure pojo
pojo = { node ->
    if (node instanceof JSONNull) { return null }
    if (node instanceof JSONObject) {
        if (node.isNullObject()) { return null }
        Map map = [:]
        node.keySet().each { key -> map[key] = pojo(node.get(key)) }
        return map
    }
    if (node instanceof JSONArray) { return node.collect { pojo(it) } }
    return node
}
binding.setVariable('readJSON', { Map step ->
    def json = JSONSerializer.toJSON(new File(step.file as String).getText('UTF-8'))
    step.returnPojo ? pojo(json) : json
})
binding.setVariable('writeJSON', { Map step ->
    assert step.returnText : 'the harness writes JSON as text only'
    JSONSerializer.toJSON(step.json).toString()
})

def shell = new GroovyShell(binding)
def step = shell.parse(new File(varsDir, 'dockyard.groovy'))
step.binding = binding
binding.setVariable('dockyard', { Map a -> step.call(a) })

def result = null
String failure = null
try {
    result = shell.evaluate(new File(snippetFile))
} catch (RuntimeException exc) {
    failure = exc.message
}
new File(transcriptFile).text = JsonOutput.toJson([calls: calls, result: result, error: failure])
