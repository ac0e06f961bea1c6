// Alerts on what goes wrong with background jobs, sent to an optional e-mail action group:
//   - dead-lettered Service Bus messages (per entity);
//   - Service Bus backlog age: an entity whose active count never fell to zero for 30 minutes
//     (Azure Monitor has no "age of the oldest message" metric; a backlog that does not drain
//     within the window is the closest signal);
//   - Storage queue backlog: the account's queue message count (a capacity metric, hourly);
//   - poison messages: the Functions host's log line when it moves a message to a -poison
//     queue (Storage queues have no per-queue length metric, so the arrivals are counted);
//   - function failures: failed invocations per app and function, from Application Insights.
// The log alerts query the workspace the (workspace-based) Application Insights data lives in.

@description('Azure region of the log alert rules.')
param location string

@description('Tags applied to every rule.')
param tags object

@description('Prefix of the alert rule names.')
param namePrefix string

@description('Resource ID of the Service Bus namespace.')
param serviceBusNamespaceId string

@description('Resource ID of the storage account.')
param storageAccountId string

@description('Resource ID of the Log Analytics workspace holding the Application Insights tables.')
param workspaceId string

@description('E-mail address that receives the alerts; empty: the alerts fire (visible in the portal) without notifying anyone.')
param alertEmail string = ''

@description('Storage queue messages (all queues of the account) above which the backlog alert fires.')
@minValue(1)
param storageBacklogThreshold int = 1000

@description('Failed function invocations per app and function within 15 minutes above which the failure alert fires.')
@minValue(0)
param failureThreshold int = 5

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-ag'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'jobsalerts'
    enabled: true
    emailReceivers: [
      {
        name: 'operations'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroupIds = empty(alertEmail) ? [] : [
  actionGroup.id
]

resource deadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-servicebus-dead-lettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'A Service Bus entity has dead-lettered messages (poison after maxDeliveryCount, or expired): inspect and replay them.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'dead-lettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [for id in actionGroupIds: {
      actionGroupId: id
    }]
  }
}

resource backlogAge 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-servicebus-backlog-age'
  location: 'global'
  tags: tags
  properties: {
    description: 'A Service Bus entity has not been empty for 30 minutes: its oldest message is at least that old, so consumers are down or too slow.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT30M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'never-drained'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'ActiveMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          // The smallest count in the window: above zero means it never drained.
          timeAggregation: 'Minimum'
        }
      ]
    }
    actions: [for id in actionGroupIds: {
      actionGroupId: id
    }]
  }
}

resource storageBacklog 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-storage-queue-backlog'
  location: 'global'
  tags: tags
  properties: {
    description: 'The shared account\'s Storage queues (job tickets, batch parts, notifications, events and their -poison queues) hold more messages than expected.'
    severity: 3
    enabled: true
    scopes: [
      '${storageAccountId}/queueServices/default'
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT6H'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'backlog'
          metricNamespace: 'Microsoft.Storage/storageAccounts/queueServices'
          metricName: 'QueueMessageCount'
          operator: 'GreaterThan'
          threshold: storageBacklogThreshold
          timeAggregation: 'Average'
        }
      ]
    }
    actions: [for id in actionGroupIds: {
      actionGroupId: id
    }]
  }
}

resource poisonMessages 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-poison-messages'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Messages moved to a poison queue'
    description: 'The Functions host moved a queue or blob-trigger message to a -poison queue after maxDequeueCount failures: list and replay them.'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'AppTraces | where Message has "poison" and (Message has "MaxDequeueCount" or Message has "Moving message") | project AppRoleName'
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'AppRoleName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

resource functionFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-function-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Function invocations failing'
    description: 'Failed invocations per app and function in the last 15 minutes.'
    severity: 2
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: 'AppRequests | where Success == false | project AppRoleName, OperationName'
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'AppRoleName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'OperationName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: failureThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

@description('Names of the alert rules.')
output alertNames array = [
  deadLettered.name
  backlogAge.name
  storageBacklog.name
  poisonMessages.name
  functionFailures.name
]
