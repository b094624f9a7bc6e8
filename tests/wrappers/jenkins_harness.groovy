// Stands in for the Jenkins pipeline steps a shared-library step uses, then runs a
// pipeline snippet that calls it. Usage:
//   groovy jenkins_harness.groovy VARS_DIR SNIPPET_FILE CREDENTIALS_JSON TRANSCRIPT_JSON
// `sh` really runs its script with bash (cwd and environment of this process, plus what
// withEnv/withCredentials added), as Jenkins' `sh` does; a non-zero exit throws. The
// transcript records each sh call (script, label, the names of the variables it got) and
// the value the snippet returned.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

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
    if (status != 0) { throw new RuntimeException("script returned exit code ${status}") }
})
binding.setVariable('readJSON', { Map step -> new JsonSlurper().parse(new File(step.file as String)) })

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
