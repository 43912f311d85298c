// The failover bundle in one region. Deploy it twice, once per region, into a resource group of
// that region: role 'primary' runs the health-check; role 'secondary' runs the watchdog and the
// activation app. Names, regions, the watchdog's schedule and every role assignment on the
// workload come from the failover plan beside this file, the same file the packages carry: a
// resource added to the plan gets its role assignment on the next deployment, with no edit here.

targetScope = 'resourceGroup'

@description('Which half of the bundle this deployment is.')
@allowed([
  'primary'
  'secondary'
])
param role string

@description('Short code of this region used in names, e.g. weu; the health-check app is func-<plan>-health-<code>.')
param regionCode string

@description('Short code of the other region.')
param peerRegionCode string

@description('Resource group of the other region\'s deployment (its Log Analytics workspace lives there).')
param peerResourceGroup string

@description('up: also declare the other region\'s workspace, send logs there, and assign roles on the plan\'s copies there. down: leave the other region alone (redeploying during its outage).')
@allowed([
  'up'
  'down'
])
param peerRegion string = 'up'

@description('Email addresses told of every alert.')
param alertEmails array = []

@description('Webhook URLs told of every alert, separated by spaces.')
@secure()
param alertWebhookUrls string = ''

@description('Primary: values of the settings the plan\'s http checks name as %NAME% headers, by setting name.')
@secure()
param healthCheckSecretSettings object = {}

@description('Secondary: the health-check function key the watchdog sends (BCDR_HEALTH_KEY).')
@secure()
param healthKey string = ''

@description('Secondary: the activation function key the watchdog sends (BCDR_ACTIVATION_KEY).')
@secure()
param activationKey string = ''

@description('Secondary: the shared secret that signs activation requests (BCDR_ACTIVATION_SECRET), 32 characters or more.')
@secure()
param activationSecret string = ''

@description('Secondary: the previous signing secret, accepted while a rotation is under way; empty otherwise.')
@secure()
param activationSecretPrevious string = ''

@description('Secondary: the alert channels\' webhook URLs, by the setting name the plan gives each (alerts.channels[].urlSetting).')
@secure()
param alertChannelUrls object = {}

@description('Secondary: more Azure watchers, each a watchdog app in another region voting on the same state (for a plan with quorum k of n), as [{ code: \'frc\', location: \'francecentral\' }]. Each is named func-<plan>-watchdog-<code>, which the plan\'s watchdog.watchers names.')
param extraWatchers array = []

@description('Secondary: the issuer URL of the AWS account whose Lambda watcher votes too (aws iam get-outbound-web-identity-federation-info); empty: no AWS watcher.')
param awsIssuer string = ''

@description('Secondary: that watcher\'s execution role ARN, the subject of its tokens (output FunctionRoleArn of infra/aws/watchdog-lambda.yaml).')
param awsWatcherRoleArn string = ''

@description('Zone-redundant Flex Consumption plans; turn off only in a region without availability zones for Flex Consumption.')
param zoneRedundant bool = true

param tags object = {}

var plan = any(loadJsonContent('failover-plan.json'))

var isPrimary = role == 'primary'
var isSecondary = role == 'secondary'
var peerUp = peerRegion == 'up'
var location = isPrimary ? plan.regions.primary : plan.regions.secondary
var peerLocation = isPrimary ? plan.regions.secondary : plan.regions.primary
var workspaceTags = union(tags, {
  workload: plan.name
})
var allTags = union(workspaceTags, {
  'bcdr-role': role
})

// Names. The health-check's must match the host of the plan's watch target.
var healthCheckAppName = 'func-${plan.name}-health-${regionCode}'
var watchdogAppName = 'func-${plan.name}-watchdog-${isSecondary ? regionCode : peerRegionCode}'
var activationAppName = 'func-${plan.name}-activation-${regionCode}'
var workspaceName = 'log-${plan.name}-${regionCode}'
var peerWorkspaceName = 'log-${plan.name}-${peerRegionCode}'
var appInsightsName = 'appi-${plan.name}-${regionCode}'
var deploymentContainer = 'app-package'
var awsWatcher = isSecondary && !empty(awsIssuer) && !empty(awsWatcherRoleArn)
// The audience Entra expects in a federated credential's assertion; infra/aws/ requests it.
var federationAudience = 'api://AzureADTokenExchange'
var stateContainer = 'bcdr-state'

// Built-in roles of the apps' own storage (data plane). The roles each app's identity holds on
// the workload come from roles.json, which bcdr-core reads too (plan::access): `bcdr plan roles`
// prints what this file grants for a plan, and the tests make the simulated ARM enforce exactly
// that, so a role missing an action the bundle uses fails a test, not a failover.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

// The workload's roles, by app and by the plan's kinds. Activation's rights on a copy, by the
// plan's resource kind: a Consumption workflow gets a custom role of exactly what the fence,
// drain and trigger handover call (Logic App Operator has no triggers/setState, triggers/reset or
// runs/cancel); a site or Standard app Website Contributor; a generic copy read and write on its
// own full type. On the router, the narrowest role that reliably holds both endpoints (or
// origins), at their profile.
var access = loadJsonContent('roles.json')

// --- monitoring: this region's workspace and Application Insights, and the other's workspace

module monitoring 'modules/monitoring.bicep' = {
  name: 'bcdr-monitoring'
  params: {
    workspaceName: workspaceName
    appInsightsName: appInsightsName
    location: location
    tags: allTags
    workspaceTags: workspaceTags
  }
}

module peerWorkspace 'modules/workspace.bicep' = if (peerUp) {
  name: 'bcdr-peer-workspace-${regionCode}'
  scope: resourceGroup(peerResourceGroup)
  params: {
    name: peerWorkspaceName
    location: peerLocation
    tags: workspaceTags
  }
}

var workspaceIds = peerUp ? [
  monitoring.outputs.workspaceId
  peerWorkspace.outputs.id
] : [
  monitoring.outputs.workspaceId
]

// --- identities: one per app, so each holds only its own roles

resource healthCheckIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (isPrimary) {
  name: 'id-${healthCheckAppName}'
  location: location
  tags: allTags
}

resource watchdogIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (isSecondary) {
  name: 'id-${watchdogAppName}'
  location: location
  tags: allTags
}

resource activationIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (isSecondary) {
  name: 'id-${activationAppName}'
  location: location
  tags: allTags
}

resource extraWatcherIdentities 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = [for w in extraWatchers: if (isSecondary) {
  name: 'id-func-${plan.name}-watchdog-${w.code}'
  location: w.location
  tags: allTags
}]

// The AWS watcher acts as this identity, which holds only the state container. Only a token
// from that AWS account's issuer, for that role and the Entra audience, is exchanged for its
// tokens (workload identity federation): no key or client secret is stored in AWS.
resource awsWatcherIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = if (awsWatcher) {
  name: 'id-${plan.name}-watchdog-aws'
  location: location
  tags: allTags
}

resource awsWatcherFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = if (awsWatcher) {
  parent: awsWatcherIdentity
  name: 'aws-lambda-watchdog'
  properties: {
    issuer: awsIssuer
    subject: awsWatcherRoleArn
    audiences: [
      federationAudience
    ]
  }
}

// --- storage: each app's own host storage and package container; the secondary's state

module healthCheckStorage 'modules/storage.bicep' = if (isPrimary) {
  name: 'bcdr-storage-health-check'
  params: {
    name: 'sthealth${uniqueString(resourceGroup().id, healthCheckAppName)}'
    location: location
    tags: allTags
    containers: [
      deploymentContainer
    ]
    accountRoles: [
      {
        principalId: healthCheckIdentity.properties.principalId
        roleId: roles.storageBlobDataOwner
        why: 'Functions host storage and package of ${healthCheckAppName}'
      }
      {
        principalId: healthCheckIdentity.properties.principalId
        roleId: roles.storageTableDataContributor
        why: 'Functions host diagnostic events of ${healthCheckAppName}'
      }
    ]
  }
}

module watchdogStorage 'modules/storage.bicep' = if (isSecondary) {
  name: 'bcdr-storage-watchdog'
  params: {
    name: 'stwatchdog${uniqueString(resourceGroup().id, watchdogAppName)}'
    location: location
    tags: allTags
    containers: [
      deploymentContainer
    ]
    accountRoles: [
      {
        principalId: watchdogIdentity.properties.principalId
        roleId: roles.storageBlobDataOwner
        why: 'Functions host storage (timer leases and schedule) and package of ${watchdogAppName}'
      }
      {
        principalId: watchdogIdentity.properties.principalId
        roleId: roles.storageTableDataContributor
        why: 'Functions host diagnostic events of ${watchdogAppName}'
      }
    ]
  }
}

module activationStorage 'modules/storage.bicep' = if (isSecondary) {
  name: 'bcdr-storage-activation'
  params: {
    name: 'stactivate${uniqueString(resourceGroup().id, activationAppName)}'
    location: location
    tags: allTags
    containers: [
      deploymentContainer
    ]
    accountRoles: [
      {
        principalId: activationIdentity.properties.principalId
        roleId: roles.storageBlobDataOwner
        why: 'Functions host storage and package of ${activationAppName}'
      }
      {
        principalId: activationIdentity.properties.principalId
        roleId: roles.storageTableDataContributor
        why: 'Functions host diagnostic events of ${activationAppName}'
      }
    ]
  }
}

// Watch state, decision logs (watches/...) and activation records and reports (activations/...).
module stateStorage 'modules/storage.bicep' = if (isSecondary) {
  name: 'bcdr-storage-state'
  params: {
    name: 'ststate${uniqueString(resourceGroup().id, 'state')}'
    location: location
    tags: allTags
    containers: [
      stateContainer
    ]
    containerRoles: [
      {
        principalId: watchdogIdentity.properties.principalId
        roleId: roles.storageBlobDataContributor
        container: stateContainer
        why: 'Watch state and decision logs'
      }
      {
        principalId: activationIdentity.properties.principalId
        roleId: roles.storageBlobDataContributor
        container: stateContainer
        why: 'Activation records and reports'
      }
    ]
  }
}

var stateUrl = '${stateStorage.outputs.blobEndpoint}${stateContainer}'

// The other watchers on the same state: each extra Azure watcher, and the AWS watcher's
// federated identity, hold the state container and nothing else of the account.
module extraWatcherState 'modules/container-role.bicep' = [for (w, i) in extraWatchers: if (isSecondary) {
  name: 'bcdr-state-watchdog-${w.code}'
  params: {
    accountName: stateStorage.outputs.name
    container: stateContainer
    principalId: extraWatcherIdentities[i].properties.principalId
    roleId: roles.storageBlobDataContributor
    why: 'Watch state and decision logs of the watcher in ${w.location}'
  }
}]

module awsWatcherState 'modules/container-role.bicep' = if (awsWatcher) {
  name: 'bcdr-state-watchdog-aws'
  params: {
    accountName: stateStorage.outputs.name
    container: stateContainer
    principalId: awsWatcherIdentity.properties.principalId
    roleId: roles.storageBlobDataContributor
    why: 'Watch state and decision logs of the AWS watcher (workload identity federation)'
  }
}

// --- the apps and the settings each handler reads (checked against the handlers by
// tests/e2e/infra.rs: every setting a handler reads is set here, and nothing else)

var healthCheckSettings = union({
  BCDR_ARM_ENDPOINT: environment().resourceManager
}, healthCheckSecretSettings)

module healthCheck 'modules/function-app.bicep' = if (isPrimary) {
  name: 'bcdr-app-health-check'
  params: {
    name: healthCheckAppName
    location: location
    tags: allTags
    identityName: healthCheckIdentity.name
    storageAccountName: healthCheckStorage.outputs.name
    deploymentContainer: deploymentContainer
    appInsightsName: monitoring.outputs.appInsightsName
    workspaceIds: workspaceIds
    zoneRedundant: zoneRedundant
    appSettings: healthCheckSettings
  }
}

var activationSettings = {
  BCDR_ARM_ENDPOINT: environment().resourceManager
  BCDR_STATE_URL: stateUrl
  BCDR_ACTIVATION_SECRET: activationSecret
  BCDR_ACTIVATION_SECRET_PREVIOUS: activationSecretPrevious
}

module activation 'modules/function-app.bicep' = if (isSecondary) {
  name: 'bcdr-app-activation'
  params: {
    name: activationAppName
    location: location
    tags: allTags
    identityName: activationIdentity.name
    storageAccountName: activationStorage.outputs.name
    deploymentContainer: deploymentContainer
    appInsightsName: monitoring.outputs.appInsightsName
    workspaceIds: workspaceIds
    zoneRedundant: zoneRedundant
    appSettings: activationSettings
  }
}

var watchdogSettings = union({
  BCDR_WATCHDOG_SCHEDULE: plan.?watchdog.?schedule ?? '0 * * * * *'
  BCDR_STATE_URL: stateUrl
  BCDR_HEALTH_KEY: healthKey
  BCDR_ACTIVATION_URL: 'https://${activation.outputs.hostName}/api/activate'
  BCDR_ACTIVATION_KEY: activationKey
  BCDR_ACTIVATION_SECRET: activationSecret
}, alertChannelUrls)

module watchdog 'modules/function-app.bicep' = if (isSecondary) {
  name: 'bcdr-app-watchdog'
  params: {
    name: watchdogAppName
    location: location
    tags: allTags
    identityName: watchdogIdentity.name
    storageAccountName: watchdogStorage.outputs.name
    deploymentContainer: deploymentContainer
    appInsightsName: monitoring.outputs.appInsightsName
    workspaceIds: workspaceIds
    zoneRedundant: zoneRedundant
    appSettings: watchdogSettings
  }
}

// More Azure watchers on the same state, one per extra region: the same package and settings;
// each votes as its own site name.
module extraWatcherStorage 'modules/storage.bicep' = [for (w, i) in extraWatchers: if (isSecondary) {
  name: 'bcdr-storage-watchdog-${w.code}'
  params: {
    name: 'stwatchdog${uniqueString(resourceGroup().id, 'watchdog', w.code)}'
    location: w.location
    tags: allTags
    containers: [
      deploymentContainer
    ]
    accountRoles: [
      {
        principalId: extraWatcherIdentities[i].properties.principalId
        roleId: roles.storageBlobDataOwner
        why: 'Functions host storage (timer leases and schedule) and package of func-${plan.name}-watchdog-${w.code}'
      }
      {
        principalId: extraWatcherIdentities[i].properties.principalId
        roleId: roles.storageTableDataContributor
        why: 'Functions host diagnostic events of func-${plan.name}-watchdog-${w.code}'
      }
    ]
  }
}]

module extraWatcherApps 'modules/function-app.bicep' = [for (w, i) in extraWatchers: if (isSecondary) {
  name: 'bcdr-app-watchdog-${w.code}'
  params: {
    name: 'func-${plan.name}-watchdog-${w.code}'
    location: w.location
    tags: allTags
    identityName: extraWatcherIdentities[i].name
    storageAccountName: extraWatcherStorage[i].outputs.name
    deploymentContainer: deploymentContainer
    appInsightsName: monitoring.outputs.appInsightsName
    workspaceIds: workspaceIds
    zoneRedundant: zoneRedundant
    appSettings: watchdogSettings
  }
}]

// --- least privilege on the workload, from the plan

// Health-check: Reader on what its logicApp and armResource checks read.
var checkedIds = [for check in (plan.?health.?checks ?? []): check.?logicApp.?resourceId ?? check.?armResource.?resourceId ?? '']
var healthReadIds = filter(union(checkedIds, []), id => !empty(id))

module healthCheckReads 'modules/role-assignment.json' = [for id in healthReadIds: if (isPrimary) {
  name: 'bcdr-read-${uniqueString(id, healthCheckAppName)}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    resourceId: id
    principalId: healthCheckIdentity.properties.principalId
    roleId: access.roles[access.healthCheck.reads.role].id
    description: '${healthCheckAppName} checks this resource'
  }
}]

// Activation: switch rights on both copies of every resource (it fences the primary's and
// enables the secondary's), and on the router's profile.
var planResources = plan.?resources ?? []

// A copy's full resource type (namespace and every type segment), which a custom role's
// '{type}' stands for: `Microsoft.Network/trafficManagerProfiles/externalEndpoints`, not just its
// top-level type, since ARM names a child's actions by its full type. Up to three levels.
var copyTypes = [for r in planResources: {
  primary: length(split(r.primary, '/')) == 9 ? '${split(r.primary, '/')[6]}/${split(r.primary, '/')[7]}' : length(split(r.primary, '/')) == 11 ? '${split(r.primary, '/')[6]}/${split(r.primary, '/')[7]}/${split(r.primary, '/')[9]}' : '${split(r.primary, '/')[6]}/${split(r.primary, '/')[7]}/${split(r.primary, '/')[9]}/${split(r.primary, '/')[11]}'
  secondary: length(split(r.secondary, '/')) == 9 ? '${split(r.secondary, '/')[6]}/${split(r.secondary, '/')[7]}' : length(split(r.secondary, '/')) == 11 ? '${split(r.secondary, '/')[6]}/${split(r.secondary, '/')[7]}/${split(r.secondary, '/')[9]}' : '${split(r.secondary, '/')[6]}/${split(r.secondary, '/')[7]}/${split(r.secondary, '/')[9]}/${split(r.secondary, '/')[11]}'
}]

module activationOnPrimaryCopies 'modules/role-assignment.json' = [for (r, i) in planResources: if (isSecondary && peerUp) {
  name: 'bcdr-switch-${uniqueString(r.primary, activationAppName)}'
  scope: resourceGroup(split(r.primary, '/')[2], split(r.primary, '/')[4])
  params: {
    resourceId: r.primary
    principalId: activationIdentity.properties.principalId
    roleId: contains(access.activation.copies[r.kind], 'role') ? access.roles[access.activation.copies[r.kind].role].id : ''
    customActions: [for a in access.activation.copies[r.kind].?customActions ?? []: replace(a, '{type}', copyTypes[i].primary)]
    description: '${activationAppName} fences ${r.name} (${r.kind}) here'
  }
}]

module activationOnSecondaryCopies 'modules/role-assignment.json' = [for (r, i) in planResources: if (isSecondary) {
  name: 'bcdr-switch-${uniqueString(r.secondary, activationAppName)}'
  scope: resourceGroup(split(r.secondary, '/')[2], split(r.secondary, '/')[4])
  params: {
    resourceId: r.secondary
    principalId: activationIdentity.properties.principalId
    roleId: contains(access.activation.copies[r.kind], 'role') ? access.roles[access.activation.copies[r.kind].role].id : ''
    customActions: [for a in access.activation.copies[r.kind].?customActions ?? []: replace(a, '{type}', copyTypes[i].secondary)]
    description: '${activationAppName} enables ${r.name} (${r.kind}) here'
  }
}]

// A profile's ID is the first nine segments of its endpoints' (or origins') IDs; an API
// Management instance's is the first nine of its backends'.
var routerProfileIds = contains(plan, 'router') ? union([
  join(take(split(plan.router.primary, '/'), 9), '/')
], [
  join(take(split(plan.router.secondary, '/'), 9), '/')
]) : []

module activationOnRouter 'modules/role-assignment.json' = [for id in routerProfileIds: if (isSecondary) {
  name: 'bcdr-route-${uniqueString(id, activationAppName)}'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
  params: {
    resourceId: id
    principalId: activationIdentity.properties.principalId
    roleId: contains(access.activation.router[plan.router.kind], 'role') ? access.roles[access.activation.router[plan.router.kind].role].id : ''
    customActions: access.activation.router[plan.router.kind].?customActions ?? []
    description: '${activationAppName} switches the router\'s endpoints here'
  }
}]

// --- the plan's Logic Apps in this region: WorkflowRuntime logs to both workspaces

var localCopies = [for r in planResources: {
  kind: r.kind
  id: isPrimary ? r.primary : r.secondary
}]

module workflowLogs 'modules/workflow-diagnostics.bicep' = [for localCopy in localCopies: if (localCopy.kind == 'logicApp' || localCopy.kind == 'logicAppStandard') {
  name: 'bcdr-logs-${uniqueString(localCopy.id)}'
  scope: resourceGroup(split(localCopy.id, '/')[2], split(localCopy.id, '/')[4])
  params: {
    kind: localCopy.kind
    name: split(localCopy.id, '/')[8]
    workspaceIds: workspaceIds
  }
}]

// --- alerts

module alerts 'modules/alerts.bicep' = {
  name: 'bcdr-alerts'
  params: {
    role: role
    location: location
    tags: allTags
    namePrefix: '${plan.name}-${regionCode}'
    workspaceId: monitoring.outputs.workspaceId
    watchdogAppName: watchdogAppName
    activationAppName: isSecondary ? activationAppName : ''
    emails: alertEmails
    webhookUrls: alertWebhookUrls
  }
}

output location string = location
output healthCheckApp string = isPrimary ? healthCheckAppName : ''
output watchdogApp string = isSecondary ? watchdogAppName : ''
output activationApp string = isSecondary ? activationAppName : ''
output workspaceId string = monitoring.outputs.workspaceId
output stateUrl string = isSecondary ? stateUrl : ''
output activationUrl string = isSecondary ? 'https://${activation.outputs.hostName}/api/activate' : ''
output extraWatcherApps array = [for w in extraWatchers: isSecondary ? 'func-${plan.name}-watchdog-${w.code}' : '']
output awsWatcherClientId string = awsWatcher ? awsWatcherIdentity.properties.clientId : ''
output tenantId string = tenant().tenantId
