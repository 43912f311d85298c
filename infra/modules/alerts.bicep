// Who is told, and when. The handlers print JSON lines; the Functions host ships them to
// Application Insights (table AppTraces) and, through the diagnostic settings, to FunctionAppLogs.
// The rules read both, so they fire whichever arrives.
//
// Secondary: the watchdog's alert events, failed activations, and a watchdog that stopped ticking.
// Primary: the same silence, seen in the copy of the watchdog's logs the secondary sends here,
// so a whole secondary region going quiet is noticed from the primary.

@allowed([
  'primary'
  'secondary'
])
param role string

param location string

param tags object = {}

@description('Prefix of the action group and rule names.')
param namePrefix string

@description('The region\'s Log Analytics workspace the rules query.')
param workspaceId string

param watchdogAppName string

@description('The activation app (secondary only).')
param activationAppName string = ''

@description('Email addresses told of every alert.')
param emails array = []

@description('Webhook URLs told of every alert, separated by spaces (they may hold tokens).')
@secure()
param webhookUrls string = ''

@description('How long the watchdog may go without a tick before it counts as silent.')
@allowed([
  'PT10M'
  'PT15M'
  'PT30M'
  'PT1H'
])
param silenceWindow string = 'PT15M'

var webhooks = empty(webhookUrls) ? [] : split(webhookUrls, ' ')

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: take('bcdr${namePrefix}', 12)
    enabled: true
    emailReceivers: [for (email, i) in emails: {
      name: 'email-${i}'
      emailAddress: email
      useCommonAlertSchema: true
    }]
    webhookReceivers: [for (url, i) in webhooks: {
      name: 'webhook-${i}'
      serviceUri: url
      useCommonAlertSchema: true
    }]
  }
}

// Both places a handler's line can land, as (TimeGenerated, Message), for one app.
var linesOfApp = '''
let app = '@APP@';
let lines = union isfuzzy=true
    (AppTraces | where AppRoleName =~ app | project TimeGenerated, Message),
    (FunctionAppLogs | where AppName =~ app | project TimeGenerated, Message);
'''

var alertEventsQuery = '''
lines
| where Message has '"event":"alert"'
| extend line = parse_json(substring(Message, indexof(Message, '{')))
| where tostring(line.event) == 'alert' and tostring(line.severity) in ('critical', 'warning')
| project TimeGenerated, watch = tostring(line.watch), kind = tostring(line.kind),
    severity = tostring(line.severity), title = tostring(line.title)
'''

var activationFailuresQuery = '''
let finished = lines
    | where Message has 'activation finished'
    | extend line = parse_json(substring(Message, indexof(Message, '{')))
    | where tostring(line.message) == 'activation finished' and tostring(line.outcome) =~ 'Failed'
    | project TimeGenerated, watch = tostring(line.watch), failure = 'activation finished: Failed';
let answered = union isfuzzy=true
    (AppRequests
    | where AppRoleName =~ app and (Name =~ 'activate' or Url has '/api/activate')
    | where toint(ResultCode) < 200 or toint(ResultCode) > 299
    | project TimeGenerated, watch = '', failure = strcat('/api/activate answered ', ResultCode));
union isfuzzy=true finished, answered
'''

var ticksQuery = '''
lines
| where Message has '"message":"tick"'
'''

// The primary sees the watchdog only through the diagnostic settings' copy.
var mirroredTicksQuery = '''
FunctionAppLogs
| where AppName =~ '@APP@'
| where Message has '"message":"tick"'
'''

resource watchdogAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = if (role == 'secondary') {
  name: 'alert-${namePrefix}-watchdog-events'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Failover watchdog raised an alert'
    description: 'The watchdog logged an alert event (severity warning or critical): see the watch, kind and title dimensions, and its status page.'
    severity: 1
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    scopes: [
      workspaceId
    ]
    skipQueryValidation: true
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: replace('${linesOfApp}${alertEventsQuery}', '@APP@', watchdogAppName)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'watch'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'kind'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'severity'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource activationFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = if (role == 'secondary') {
  name: 'alert-${namePrefix}-activation-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Failover activation failed'
    description: 'An activation run finished with outcome Failed, or /api/activate answered outside 2xx (refused signature, stale epoch, store unavailable, failed run).'
    severity: 0
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    scopes: [
      workspaceId
    ]
    skipQueryValidation: true
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: replace('${linesOfApp}${activationFailuresQuery}', '@APP@', activationAppName)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'failure'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource watchdogSilent 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-watchdog-silent'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: role == 'secondary' ? 'Failover watchdog stopped ticking' : 'Failover watchdog silent, seen from the primary region'
    description: 'No watchdog tick was logged in the window: nothing is watching the primary. Check the watchdog app (and, seen from the primary, the secondary region).'
    severity: 1
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: silenceWindow
    scopes: [
      workspaceId
    ]
    skipQueryValidation: true
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: role == 'secondary' ? replace('${linesOfApp}${ticksQuery}', '@APP@', watchdogAppName) : replace(mirroredTicksQuery, '@APP@', watchdogAppName)
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
