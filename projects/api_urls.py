"""The projects app's API routes, under /api/v1/."""

from django.urls import path

from projects.api import core, guidelines, tasks

P = "projects/<slug:slug>/"
G = P + "guidelines/<int:gid>/"
V = G + "versions/<int:number>/"

urlpatterns = [
    path("projects/", core.ProjectList.as_view(), name="api-projects"),
    path(P, core.ProjectDetail.as_view(), name="api-project"),
    path(P + "label-classes/", core.LabelClassList.as_view(), name="api-label-classes"),
    path(P + "label-classes/<int:pk>/", core.LabelClassDetail.as_view(), name="api-label-class"),
    path(P + "members/", core.MemberList.as_view(), name="api-members"),
    path(P + "members/<str:username>/", core.MemberDetail.as_view(), name="api-member"),
    path(P + "guidelines/", guidelines.GuidelineList.as_view(), name="api-guidelines"),
    path(G + "diff/", guidelines.GuidelineDiff.as_view(), name="api-guideline-diff"),
    path(
        G + "versions/",
        guidelines.GuidelineVersionList.as_view(),
        name="api-guideline-versions",
    ),
    path(V, guidelines.GuidelineVersionDetail.as_view(), name="api-guideline-version"),
    path(
        V + "publish/",
        guidelines.GuidelineVersionPublish.as_view(),
        name="api-guideline-version-publish",
    ),
    path(
        V + "acknowledge/",
        guidelines.GuidelineVersionAcknowledge.as_view(),
        name="api-guideline-version-acknowledge",
    ),
    path(
        V + "acknowledgements/",
        guidelines.GuidelineVersionAcknowledgements.as_view(),
        name="api-guideline-version-acknowledgements",
    ),
    path(P + "tasks/", tasks.TaskList.as_view(), name="api-tasks"),
    path(P + "tasks/mine/", tasks.MyTasks.as_view(), name="api-my-tasks"),
    path(P + "tasks/assign/", tasks.TaskAssign.as_view(), name="api-task-assign"),
    path(P + "tasks/claim-next/", tasks.TaskClaimNext.as_view(), name="api-task-claim-next"),
    path(P + "tasks/<int:pk>/start/", tasks.TaskStart.as_view(), name="api-task-start"),
    path(P + "tasks/<int:pk>/cancel/", tasks.TaskCancel.as_view(), name="api-task-cancel"),
    path(P + "tasks/<int:pk>/reassign/", tasks.TaskReassign.as_view(), name="api-task-reassign"),
]
