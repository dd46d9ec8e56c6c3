// Optional Durable Task Scheduler backend (durableBackend = 'DurableTaskScheduler' in main.bicep).
param name string
param location string
param tags object

@description('Must equal the app setting PARALLEL_JOB_TASK_HUB, which host.json uses as the hub name.')
param taskHubName string

@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string

@description('The app identity; it gets only the roles listed in roleNames on this scheduler.')
param principalId string
param roleNames array

var builtInRoleIds = loadJsonContent('builtin-roles.json')

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: skuName == 'Dedicated'
      ? {
          name: 'Dedicated'
          capacity: 1
        }
      : {
          name: 'Consumption'
        }
    // An empty allow list denies every caller; access is still gated by the role assignment below.
    ipAllowlist: [
      '0.0.0.0/0'
    ]
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

resource schedulerRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleName in roleNames: {
    name: guid(scheduler.id, principalId, builtInRoleIds[roleName])
    scope: scheduler
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoleIds[roleName])
    }
  }
]

output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
